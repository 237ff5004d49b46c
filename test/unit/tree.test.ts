// The process tree's errno policy and pure parts: ESRCH and EPERM are answers, never thrown;
// waitid's siginfo becomes an ExitStatus; the app is signalled through its pidfd and never
// once Node has collected it (its pid may belong to another process by then).
import { afterEach, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { ProcessTree, deliveryOf, eachLivingDescendant, exitStatusOf, sendSignal } from "../../src/child/tree.js";
import type { ProcInfo } from "../../src/sys/proc.js";
import { loadLibc } from "../../src/sys/libc.js";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

function sleeper(): Promise<ChildProcess> {
  const c = spawn("sleep", ["30"], { stdio: "ignore", detached: true });
  children.push(c);
  return new Promise((resolve, reject) => {
    c.once("spawn", () => resolve(c));
    c.once("error", reject);
  });
}

const exitOf = (c: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => c.once("exit", (code, signal) => resolve({ code, signal })));

function quietTree() {
  const warnings: Record<string, unknown>[] = [];
  const tree = new ProcessTree(() => loadLibc(), { warn: (f) => warnings.push(f), debug: () => {} });
  return { tree, warnings };
}

describe("errno policy", () => {
  it.each([
    ["ESRCH", "gone"],
    ["EPERM", "denied"],
  ] as const)("%s is an answer: %s", (code, delivery) => {
    expect(deliveryOf(code)).toBe(delivery);
  });

  it.each(["EINVAL", undefined])("%s is pidone's own bug and is thrown", (code) => {
    expect(() => deliveryOf(code)).toThrow(/kill failed/);
  });

  it("a pid that does not exist is gone, not an error", () => {
    expect(sendSignal(2 ** 22 + 1, "SIGTERM")).toBe("gone");
    expect(sendSignal(-(2 ** 22 + 1), "SIGKILL")).toBe("gone");
  });

  it("a bad signal is thrown", () => {
    expect(() => sendSignal(process.pid, 999)).toThrow();
  });
});

describe("exitStatusOf (waitid's si_code, si_status)", () => {
  it.each([
    [{ code: 1, status: 0 }, { code: 0, signal: null }],
    [{ code: 1, status: 7 }, { code: 7, signal: null }],
    [{ code: 2, status: 15 }, { code: null, signal: "SIGTERM" }],
    [{ code: 2, status: 9 }, { code: null, signal: "SIGKILL" }],
    [{ code: 3, status: 11 }, { code: null, signal: "SIGSEGV" }],
  ])("%j -> %j", (exit, status) => {
    expect(exitStatusOf(exit)).toEqual(status);
  });

  it("a stop or continue is not an exit", () => {
    expect(exitStatusOf({ code: 5, status: 19 })).toBeNull();
    expect(exitStatusOf({ code: 6, status: 18 })).toBeNull();
  });
});

describe("ProcessTree: the app", () => {
  it("signals the adopted app (through its pidfd), scope child", async () => {
    const { tree, warnings } = quietTree();
    const c = await sleeper();
    tree.adopt(c.pid as number);
    const exited = exitOf(c);
    expect(tree.signalApp(c.pid as number, "SIGTERM", "child")).toBe("SIGTERM");
    expect(await exited).toEqual({ code: null, signal: "SIGTERM" });
    tree.release(c.pid as number);
    expect(warnings).toEqual([]);
  });

  it("signals the app's group, scope group", async () => {
    const { tree } = quietTree();
    const c = await sleeper();
    tree.adopt(c.pid as number);
    const exited = exitOf(c);
    tree.signalApp(c.pid as number, "SIGINT", "group");
    expect(await exited).toEqual({ code: null, signal: "SIGINT" });
    tree.release(c.pid as number);
  });

  it("never signals a pid once it was released (Node collected it; the pid may be reused)", async () => {
    const { tree } = quietTree();
    const c = await sleeper();
    tree.adopt(c.pid as number);
    tree.release(c.pid as number);
    tree.signalApp(c.pid as number, "SIGTERM", "child");
    // Still alive: SIGKILL it ourselves, and see that it was SIGKILL, not the SIGTERM, that ended it.
    const exited = exitOf(c);
    c.kill("SIGKILL");
    expect(await exited).toEqual({ code: null, signal: "SIGKILL" });
  });

  it("reap() never takes the status of a child Node spawned", async () => {
    const { tree } = quietTree();
    const c = spawn("true", [], { stdio: "ignore" });
    children.push(c);
    tree.adopt(c.pid as number);
    // Whether or not `true` has exited yet, its zombie belongs to libuv.
    const r = tree.reap();
    expect(r.reaped).not.toContain(c.pid);
    expect(await exitOf(c)).toEqual({ code: 0, signal: null });
  });
});

describe("eachLivingDescendant", () => {
  const P = (pid: number, ppid: number, state = "S"): ProcInfo => ({ pid, ppid, pgid: pid, sid: pid, state });
  const walk = (root: number, table: ProcInfo[]) => {
    const seen: number[] = [];
    eachLivingDescendant((p) => seen.push(p.pid), root, (visit) => table.forEach(visit));
    return seen;
  };

  it("visits descendants at any depth, in /proc order, and nothing else", () => {
    const table = [P(1, 0), P(5, 1), P(6, 5), P(7, 6), P(8, 1), P(9, 8), P(10, 3), P(11, 10)];
    expect(walk(5, table)).toEqual([6, 7]);
    expect(walk(1, table)).toEqual([5, 6, 7, 8, 9]);
  });

  it("skips zombies but still follows the living", () => {
    expect(walk(1, [P(1, 0), P(2, 1, "Z"), P(3, 1), P(4, 3, "Z"), P(5, 3)])).toEqual([3, 5]);
  });

  it("finds children listed before their parent (pids that wrapped around)", () => {
    // 3's parent is 900, listed later; 2's parent is 3.
    expect(walk(1, [P(1, 0), P(2, 3), P(3, 900), P(900, 1), P(901, 7)])).toEqual([900, 3, 2]);
  });

  it("visits each process once, and never the root", () => {
    const seen = walk(1, [P(1, 0), P(2, 1), P(3, 2), P(1, 0)]);
    expect(seen).toEqual([2, 3]);
  });

  it("finds a real child and grandchild of this process", async () => {
    const c = spawn("sh", ["-c", "sleep 30 & echo $!; wait"], { stdio: ["ignore", "pipe", "ignore"] });
    children.push(c);
    const grandchild = await new Promise<number>((resolve) => c.stdout?.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))));
    const seen: number[] = [];
    eachLivingDescendant((p) => seen.push(p.pid));
    expect(seen).toContain(c.pid);
    expect(seen).toContain(grandchild);
    process.kill(grandchild, "SIGKILL");
  });
});
