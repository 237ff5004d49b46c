// /proc parsing: the command name may contain spaces and parentheses, and the process table is
// walked by parent links, never by shelling out to ps.
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { descendantsOf, parseSignalStanding, parseStat, signalStanding, type ProcInfo } from "../../src/sys/proc.js";
import { whyAlive } from "../../src/child/tree.js";

/** A realistic /proc/PID/stat line: pid (comm) state ppid pgrp session tty ... */
const stat = (pid: number, comm: string, state: string, ppid: number, pgid: number): string =>
  `${pid} (${comm}) ${state} ${ppid} ${pgid} ${pgid} 34816 ${pgid} 4194560 1126 0 0 0 2 1 0 0 20 0 1 0 123456 9355264 900 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n`;

describe("parseStat", () => {
  it.each([
    ["a plain name", stat(1234, "node", "S", 1, 1234), { pid: 1234, ppid: 1, pgid: 1234, sid: 1234, state: "S" }],
    ["a zombie", stat(77, "sh", "Z", 1, 70), { pid: 77, ppid: 1, pgid: 70, sid: 70, state: "Z" }],
    ["a name with spaces", stat(42, "Web Content", "R", 7, 42), { pid: 42, ppid: 7, pgid: 42, sid: 42, state: "R" }],
    ["a name with parentheses", stat(43, "my (weird) app", "D", 8, 40), { pid: 43, ppid: 8, pgid: 40, sid: 40, state: "D" }],
    ["a name that looks like fields", stat(44, "x) S 9 9 9", "T", 2, 44), { pid: 44, ppid: 2, pgid: 44, sid: 44, state: "T" }],
    ["no trailing newline", stat(45, "py", "S", 3, 45).trimEnd(), { pid: 45, ppid: 3, pgid: 45, sid: 45, state: "S" }],
  ])("%s", (_name, text, expected) => {
    expect(parseStat(text)).toEqual(expected);
  });

  it.each([
    ["empty", ""],
    ["no parentheses", "12 node S 1 12"],
    ["nothing after the name", "12 (node)"],
    ["no parent pid", "12 (node) S"],
    ["a pid that is not a number", "abc (node) S 1 12"],
    ["no process group", "12 (x) S 1"],
  ])("%s -> null", (_name, text) => {
    expect(parseStat(text)).toBeNull();
  });

  it("reads this very process", () => {
    const info = parseStat(readFileSync("/proc/self/stat", "latin1"));
    expect(info).toMatchObject({ pid: process.pid, ppid: process.ppid, state: "R" });
    expect(info?.pgid).toBeGreaterThan(0);
  });
});

describe("descendantsOf", () => {
  const p = (pid: number, ppid: number, pgid = pid): ProcInfo => ({ pid, ppid, pgid, sid: pgid, state: "S" });
  // 1 -> 10 -> 11 -> 12, 1 -> 20 (own group), 10 -> 13 (zombie); 30 -> 31 unrelated; 0 is the kernel.
  const table: ProcInfo[] = [
    p(1, 0), p(12, 11, 10), p(10, 1), p(11, 10, 10), p(20, 1), { pid: 13, ppid: 10, pgid: 10, sid: 10, state: "Z" }, p(30, 0), p(31, 30),
  ];
  const pids = (list: ProcInfo[]) => list.map((x) => x.pid).sort((a, b) => a - b);

  it.each([
    [1, [10, 11, 12, 13, 20]],
    [10, [11, 12, 13]],
    [11, [12]],
    [12, []],
    [30, [31]],
    [999, []],
  ])("of %i -> %j", (root, expected) => {
    expect(pids(descendantsOf(root, table))).toEqual(expected);
  });

  it("returns the table's entries, each once, and never the root", () => {
    const out = descendantsOf(1, table);
    expect(out).toHaveLength(new Set(out).size);
    expect(out.every((x) => table.includes(x))).toBe(true);
    expect(out.find((x) => x.pid === 1)).toBeUndefined();
  });

  it("of an empty table -> nothing", () => {
    expect(descendantsOf(1, [])).toEqual([]);
  });

  it("reads the live process table by default: finds a grandchild", async () => {
    // sh forks sleep (no exec: two commands), so the sleep is our grandchild.
    const child = spawn("sh", ["-c", "sleep 5; true"], { stdio: "ignore" });
    try {
      const deadline = Date.now() + 2000;
      let found: ProcInfo[] = [];
      while (Date.now() < deadline) {
        found = descendantsOf(process.pid).filter((x) => x.pid === child.pid || x.ppid === child.pid);
        if (found.length >= 2) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(found.map((x) => x.ppid).sort()).toEqual([process.pid, child.pid].sort());
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("how a process stands with a signal (/proc/PID/status)", () => {
  // SIGTERM is 15: bit 14, 0x4000. SIGINT is 2: bit 1, 0x2.
  const status = (state: string, masks: Partial<Record<"SigPnd" | "ShdPnd" | "SigBlk" | "SigIgn" | "SigCgt", string>>): string =>
    `Name:\tpython3\nState:\t${state}\nTgid:\t7\nSigQ:\t0/96363\n` +
    (["SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"] as const).map((f) => `${f}:\t${masks[f] ?? "0000000000000000"}\n`).join("");

  it.each([
    ["caught", status("S (sleeping)", { SigCgt: "0000000000004002" }), { state: "S (sleeping)", handling: "caught", blocked: false, pending: false }, "its SIGTERM handler has not ended it"],
    ["ignored", status("S (sleeping)", { SigIgn: "0000000000004000", SigCgt: "0000000000000002" }), { handling: "ignored", blocked: false }, "it ignores SIGTERM"],
    ["blocked, pending for the process", status("S (sleeping)", { ShdPnd: "0000000000004000", SigBlk: "0000000000004000", SigCgt: "0000000000004000" }), { handling: "caught", blocked: true, pending: true }, "it blocks SIGTERM, which is pending"],
    ["blocked, not sent yet", status("S (sleeping)", { SigBlk: "0000000000004000" }), { handling: "default", blocked: true, pending: false }, "it blocks SIGTERM"],
    ["stopped", status("T (stopped)", { ShdPnd: "0000000000004000", SigCgt: "0000000000004000" }), { state: "T (stopped)", pending: true }, "it is stopped, so SIGTERM waits until it is continued"],
    ["in disk sleep", status("D (disk sleep)", { ShdPnd: "0000000000004000" }), { handling: "default", pending: true }, "it is in uninterruptible sleep (D), where no signal acts"],
    ["default, not acted on yet", status("R (running)", {}), { handling: "default", pending: false }, "SIGTERM has not ended it yet"],
  ])("%s", (_name, text, standing, why) => {
    const s = parseSignalStanding(text, 15);
    expect(s).toMatchObject(standing);
    expect(whyAlive(s as NonNullable<typeof s>, "SIGTERM")).toBe(why);
  });

  it("a signal above 32 (a 64-bit mask), and a status without the fields", () => {
    expect(parseSignalStanding(status("S (sleeping)", { SigCgt: "8000000000000000" }), 64)).toMatchObject({ handling: "caught" });
    expect(parseSignalStanding("Name:\tx\nState:\tS (sleeping)\n", 15)).toBeNull();
  });

  it("reads a live process: a python that blocks SIGTERM and was sent one", async () => {
    const child = spawn("python3", ["-c", "import signal,sys\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])\nprint('ready', flush=True)\nsys.stdin.read()"], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
      child.kill("SIGTERM");
      expect(signalStanding(child.pid as number, 15)).toMatchObject({ handling: "default", blocked: true, pending: true });
      expect(signalStanding(2 ** 22 + 1, 15)).toBeNull();
    } finally {
      child.kill("SIGKILL");
    }
  });
});
