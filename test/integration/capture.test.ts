// pidone keeps what the app printed: when its stdout and stderr are not terminals, each
// generation's output goes through pipes pidone holds, byte for byte to pidone's own stdout and
// stderr, and the recent output is kept for `pidone logs`. (With a terminal nothing is captured:
// test/integration/terminal.test.ts.)
import { afterEach, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import net from "node:net";
import { createHash } from "node:crypto";
import { closeSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BUNDLE, FIXTURES, PIDONE_NODE, PIDONE_NODE_ARGS, cleanupAll, run, startPidone, type Pidone } from "../helpers/pidone.js";
import { loadPipes } from "../../src/sys/pipes.js";
import { freePort } from "../helpers/http.js";

afterEach(cleanupAll);
const WRITER = path.join(FIXTURES, "output-writer.js");
const app = (...args: string[]) => ["--", process.execPath, WRITER, ...args];
const logs = (p: Pidone, ...args: string[]) => run(process.execPath, [BUNDLE, "logs", ...args], { env: { PIDONE_CONTROL_SOCKET: p.socket } });

/** Run pidone as PID 1 with stdio of the test's choosing; resolves with its exit code. */
function runRaw(args: string[], stdio: ("ignore" | "pipe" | number)[], onChild: (c: ReturnType<typeof spawn>) => void, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const c = spawn("unshare", ["--pid", "--fork", "--mount-proc", PIDONE_NODE, ...PIDONE_NODE_ARGS, BUNDLE, ...args], {
      stdio: stdio as never, env: { ...process.env, PIDONE_LOG_FORMAT: "json", PIDONE_CONTROL_SOCKET: undefined },
    });
    onChild(c);
    const t = setTimeout(() => {
      c.kill("SIGKILL");
      reject(new Error(`pidone did not end within ${timeoutMs} ms`));
    }, timeoutMs);
    c.on("exit", (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

/** VmRSS of `pid` in KiB, from /proc. */
function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** The only child of `pid` (pidone below unshare, the app below pidone). */
function onlyChild(pid: number): number | null {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").trim().split(/\s+/).filter(Boolean);
  return kids.length === 1 ? Number(kids[0]) : null;
}

/** Poll a /proc condition (no output announces it) until it holds, or fail at the deadline. */
async function until<T>(probe: () => T | null | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("capture", () => {
  it("passes 64 MiB of random binary output on both streams byte for byte (sha256 each)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-capture-"));
    try {
      const hashFile = path.join(dir, "hashes.json");
      const got = [createHash("sha256"), createHash("sha256")];
      const code = await runRaw(["--restart", "never", "--log-level", "silent", ...app("binary", "32", hashFile)], ["ignore", "pipe", "pipe"], (c) => {
        c.stdout?.on("data", (d: Buffer) => got[0]?.update(d));
        c.stderr?.on("data", (d: Buffer) => got[1]?.update(d));
      }, 90_000);
      expect(code).toBe(0);
      const want = JSON.parse(readFileSync(hashFile, "utf8")) as { out: string; err: string };
      expect({ out: got[0]?.digest("hex"), err: got[1]?.digest("hex") }).toEqual(want);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("a consumer that stops reading blocks the app and does not grow pidone's memory", async () => {
    const sys = loadPipes();
    const pipe = sys.pipe();
    if (typeof pipe === "number") throw new Error(`pipe2: errno ${-pipe}`);
    const [unread, stdout] = pipe;
    let stderr = "";
    let child: ReturnType<typeof spawn> | undefined;
    const exited = runRaw(["--restart", "never", ...app("flood")], ["ignore", stdout, "pipe"], (c) => {
      child = c;
      c.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    }, 60_000).catch(() => null);
    closeSync(stdout);
    let pidone: number | null = null;
    try {
      const unshare = (child as ReturnType<typeof spawn>).pid as number;
      const pid1 = await until(() => onlyChild(unshare), "pidone under unshare");
      pidone = pid1;
      const appPid = await until(() => onlyChild(pid1), "the app under pidone");
      await until(() => /wrote 1 MiB/.test(stderr), `the app's first MiB\n${stderr}`);
      const before = rssKiB(pid1);
      // The app ends up asleep in write(2) on its full pipe, and stays there.
      await until(() => /pipe_w/.test(readFileSync(`/proc/${appPid}/wchan`, "latin1")) && readFileSync(`/proc/${appPid}/stat`, "latin1").split(") ")[1]?.startsWith("S"), "the app blocked in pipe_write");
      const written = Number([...stderr.matchAll(/wrote (\d+) MiB/g)].pop()?.[1] ?? 0);
      // What is in flight: the app's pipe (1 MiB), the peek pipe, pidone's stdout pipe (1 MiB).
      expect(written, stderr).toBeLessThanOrEqual(8);
      const after = rssKiB(pid1);
      expect(after - before, `VmRSS ${before} -> ${after} KiB`).toBeLessThan(16 * 1024);
    } finally {
      // pidone first (its namespace, the app included, dies with it), found before unshare goes.
      pidone ??= child?.pid ? onlyChild(child.pid) : null;
      if (pidone) process.kill(pidone, "SIGKILL");
      child?.kill("SIGKILL");
      await exited;
      closeSync(unread);
    }
  }, 90_000);

  it("pidone logs prints what the app printed, --tail its last lines, --previous the generation before", async () => {
    const p = startPidone({ args: app("hello") });
    await p.waitForStdout(/hello from \d+/);
    await p.until(() => /oops from \d+/.test(p.stderr), "the app's stderr");
    const first = await logs(p);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^(hello from \d+\noops from \d+\n|oops from \d+\nhello from \d+\n)$/);
    const tail = await logs(p, "--tail", "1");
    expect(tail.stdout.split("\n").filter(Boolean)).toHaveLength(1);
    const r = await run(process.execPath, [BUNDLE, "restart"], { env: { PIDONE_CONTROL_SOCKET: p.socket } });
    expect(r.code, r.stderr).toBe(0);
    const newPid = r.stdout.trim();
    await p.waitForStdout(new RegExp(`hello from ${newPid}`));
    await p.until(() => p.stderr.includes(`oops from ${newPid}`), "the new app's stderr");
    const latest = await logs(p);
    expect(latest.stdout).toContain(`hello from ${newPid}`);
    expect(latest.stdout).not.toContain(first.stdout.split("\n")[0]);
    const previous = await logs(p, "--previous");
    expect(previous.stdout).toBe(first.stdout);
    const byNumber = await logs(p, "--generation", "1");
    expect(byNumber.stdout).toBe(first.stdout);
    const gone = await logs(p, "--generation", "7");
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("generation 7 is not kept (kept: 1 to 2)");
  }, 30_000);

  it("pidone logs --follow goes on across a restart, marking the new generation on stderr", async () => {
    const p = startPidone({ args: app("hello") });
    const [m] = await p.waitForStdout(/hello from (\d+)/);
    const follower = spawn(process.execPath, [BUNDLE, "logs", "--follow"], { env: { ...process.env, PIDONE_CONTROL_SOCKET: p.socket }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    follower.stdout.on("data", (d: Buffer) => (out += d.toString()));
    follower.stderr.on("data", (d: Buffer) => (err += d.toString()));
    try {
      await until(() => out.includes(`hello from ${m?.[1]}`), `the follower's first lines\n${out}\n${err}`);
      const r = await run(process.execPath, [BUNDLE, "restart"], { env: { PIDONE_CONTROL_SOCKET: p.socket } });
      const newPid = r.stdout.trim();
      await until(() => out.includes(`hello from ${newPid}`) && out.includes(`oops from ${newPid}`), `the new generation in the follower\n${out}\n${err}`);
      expect(err).toMatch(new RegExp(`^--- generation 2 \\(pid ${newPid}\\) ---\\n$`));
      expect(out).not.toContain("---");
    } finally {
      follower.kill("SIGKILL");
    }
  }, 30_000);

  it("--overlap: two generations running at once keep their output apart", async () => {
    const port = await freePort();
    const p = startPidone({ args: ["--listen", `127.0.0.1:${port}`, "--overlap", "--", path.join(FIXTURES, "slow-boot-server.py")], env: { BOOT_S: "0.3" } });
    const [first] = await p.waitForStdout(/READY (\d+) /);
    const r = await run(process.execPath, [BUNDLE, "restart"], { env: { PIDONE_CONTROL_SOCKET: p.socket }, timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(0);
    const [, second] = await p.waitForStdout(/READY (\d+) /, 10_000, 2);
    const one = await logs(p, "--generation", "1");
    const two = await logs(p, "--generation", "2");
    expect(one.stdout).toContain(`READY ${first?.[1]} `);
    expect(one.stdout).not.toContain(`READY ${second?.[1]} `);
    expect(two.stdout).toContain(`READY ${second?.[1]} `);
    expect(two.stdout).not.toContain(`READY ${first?.[1]} `);
  }, 30_000);

  it("--preload: each forked generation writes into its own capture, warm and after a restart", async () => {
    const code = "import os, sys, time\nprint(f'hello from {os.getpid()}', flush=True)\nsys.stderr.write(f'oops from {os.getpid()}\\n')\nsys.stderr.flush()\ntime.sleep(1000)\n";
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-capture-preload-"));
    try {
      writeFileSync(path.join(dir, "app.py"), code);
      const p = startPidone({ args: ["--log-level", "debug", "--preload", "json", "--", "python3", "app.py"], cwd: dir });
      // The zygote imports before the first fork: on a loaded machine that takes seconds.
      const [m] = await p.waitForStdout(/hello from (\d+)/, 30_000);
      await p.waitForEvent("preload-forked");
      const r = await run(process.execPath, [BUNDLE, "restart"], { env: { PIDONE_CONTROL_SOCKET: p.socket } });
      expect(r.code, r.stderr).toBe(0);
      const second = r.stdout.trim();
      await p.waitForEvent("preload-forked", () => true, 10_000, 2);
      await p.waitForStdout(new RegExp(`hello from ${second}`));
      await p.until(() => p.stderr.includes(`oops from ${second}`), "the second generation's stderr");
      const one = await logs(p, "--generation", "1");
      const two = await logs(p, "--generation", "2");
      expect(one.stdout).toBe(`hello from ${m?.[1]}\noops from ${m?.[1]}\n`);
      expect(two.stdout).toBe(`hello from ${second}\noops from ${second}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("pidone's own log line does not split the app's unfinished stderr line", async () => {
    const p = startPidone({ args: app("partial", " end\n") });
    await p.waitForStdout(/READY \d+/);
    const r = await run(process.execPath, [BUNDLE, "restart", "--wait", "running"], { env: { PIDONE_CONTROL_SOCKET: p.socket } });
    expect(r.code, r.stderr).toBe(0);
    await p.waitForStdout(/READY \d+/, 10_000, 2);
    await p.waitForEvent("restart");
    expect(p.stderr).toContain("partial end\n");
    // Every log line of pidone is whole, on a line of its own.
    for (const line of p.stderr.split("\n")) if (line.includes('"event"')) expect(line, p.stderr).toMatch(/^\{.*\}$/);
  }, 30_000);

  it("an app line that does not end in time gets pidone's line on a line of its own", async () => {
    // A request pidone refuses is logged (debug) while the app runs on, its line unfinished.
    const p = startPidone({ args: ["--log-level", "debug", ...app("partial", "")] });
    await p.waitForStdout(/READY \d+/);
    const conn = net.connect(p.socket);
    conn.on("error", () => {});
    conn.end("nope\n");
    await p.waitForEvent("control-bad-request");
    expect(p.stderr).toMatch(/\npartial\n\{[^\n]*"event":"control-bad-request"/);
    for (const line of p.stderr.split("\n")) if (line.includes('"event"')) expect(line, p.stderr).toMatch(/^\{.*\}$/);
  }, 30_000);
});
