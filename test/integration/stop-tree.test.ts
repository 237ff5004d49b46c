// Stops always finish: a fork storm that ignores SIGTERM is gone within --stop-timeout plus the
// kill grace, with nothing of it left; a descendant pidone may not signal (EPERM) is warned about
// and the stop carries on.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { FIXTURES, cleanupAll, run, startPidone } from "../helpers/pidone.js";
import { allProcs } from "../helpers/proc.js";
import { readable } from "../helpers/readable.js";

afterEach(cleanupAll);
const FORK_LOOP = path.join(FIXTURES, "fork-loop.py");
const STOP_TIMEOUT_MS = 300;
/** supervise.ts's fixed kill grace. */
const KILL_GRACE_MS = 2000;
/** Headroom for a shared, noisy machine; the deadline still fails a stop that never finishes. */
const SLACK_MS = 8000;
let marker = 0;
const mark = () => `storm-${process.pid}-${++marker}`;
const withMarker = (m: string) => allProcs().filter((p) => p.cmdline.includes(m) && p.state !== "Z");

describe("stops always finish", () => {
  it("a fork storm ignoring SIGTERM is killed within --stop-timeout plus the kill grace, as PID 1", async () => {
    const m = mark();
    const p = startPidone({ args: ["--restart", "never", "--stop-timeout", `${STOP_TIMEOUT_MS}ms`, "--log-level", "debug", "--", "python3", FORK_LOOP, m] });
    await p.waitForStdout(/FORKING/, 20_000);
    await p.waitForEvent("ready");
    await p.until(() => p.tree().length >= 20 || undefined, "the storm to be under way", 10_000, 5);
    p.signal("SIGTERM");
    await p.waitForEvent("stop-timeout", undefined, STOP_TIMEOUT_MS + SLACK_MS);
    const exit = await p.waitExit(STOP_TIMEOUT_MS + KILL_GRACE_MS + SLACK_MS);
    expect(exit.code, p.output()).toBe(137);
    // The tree emptied by itself: the grace did not have to give up on survivors.
    expect(p.all("leftovers-survived-kill"), p.output()).toEqual([]);
    expect(withMarker(m)).toEqual([]);
  });

  it("restarting a fork storm: the next generation starts only once nothing of the old one is left", async () => {
    const m = mark();
    const once = path.join(mkdtempSync(path.join(tmpdir(), "pidone-storm-")), "stormed");
    // The first generation storms; the next one finds the file and stays calm.
    const script = `import os,sys,signal\nif os.path.exists(${JSON.stringify(once)}):\n  print("CALM", flush=True)\n  signal.signal(signal.SIGTERM, lambda *a: os._exit(0))\n  sys.path.insert(0, ${JSON.stringify(readable(FIXTURES))})\n  import wait_signals\n  wait_signals.forever()\nopen(${JSON.stringify(once)}, "w").close()\nsys.argv = [${JSON.stringify(FORK_LOOP)}, ${JSON.stringify(m)}]\nexec(open(${JSON.stringify(FORK_LOOP)}).read())`;
    const p = startPidone({ args: ["--stop-timeout", `${STOP_TIMEOUT_MS}ms`, "--", "python3", "-c", script, m] });
    try {
      await p.waitForStdout(/FORKING/, 20_000);
      await p.waitForEvent("ready");
      await p.until(() => p.tree().length >= 20 || undefined, "the storm to be under way", 10_000, 5);
      p.signal("SIGUSR1");
      await p.waitForStdout(/CALM/, STOP_TIMEOUT_MS + KILL_GRACE_MS + SLACK_MS);
      expect(p.all("leftovers-survived-kill"), p.output()).toEqual([]);
      await p.waitForEvent("restart");
      // Nothing but the calm generation: the storm's setsid'd children and orphans are gone too.
      const left = p.tree().filter((x) => x.state !== "Z");
      expect(left.map((x) => `${x.pid} ${x.state} ${x.cmdline.slice(0, 60)}`), p.output()).toHaveLength(1);
      expect(left[0]?.ppid).toBe(p.pid1);
    } finally {
      rmSync(path.dirname(once), { recursive: true, force: true });
    }
  });

  it("as a subreaper (not PID 1), the storm is gone from the host after the stop", async () => {
    // Here nothing kills the leftovers for pidone when it exits: they would outlive it.
    const m = mark();
    const p = startPidone({ namespace: false, args: ["--restart", "never", "--stop-timeout", `${STOP_TIMEOUT_MS}ms`, "--", "python3", FORK_LOOP, m] });
    await p.waitForStdout(/FORKING/, 20_000);
    await p.waitForEvent("ready");
    await p.until(() => p.tree().length >= 20 || undefined, "the storm to be under way", 10_000, 5);
    p.signal("SIGTERM");
    const exit = await p.waitExit(STOP_TIMEOUT_MS + KILL_GRACE_MS + SLACK_MS);
    expect(exit.code, p.output()).toBe(137);
    expect(p.all("leftovers-survived-kill"), p.output()).toEqual([]);
    expect(withMarker(m).map((x) => `${x.pid} ${x.state} ${x.cmdline}`)).toEqual([]);
  });
});

describe("a descendant pidone may not signal (EPERM)", () => {
  // pidone runs as nobody (PID 1 of its namespace all the same); the app starts a setuid-root
  // helper that becomes root for real, so every signal pidone sends it fails with EPERM.
  let dir = "";
  let helper = "";
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "pidone-eperm-"));
    chmodSync(dir, 0o777);
    helper = path.join(dir, "stay-root");
    execFileSync("cc", ["-O2", "-o", helper, path.join(FIXTURES, "stay-root.c")]);
    chownSync(helper, 0, 0);
    chmodSync(helper, 0o4755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is warned about once, naming the pid, and the stop ends with the app's status", async () => {
    expect(process.getuid?.(), "this test needs root to install a setuid helper").toBe(0);
    // One write per line, and the helper only after the app's line: the two share stdout.
    const app = `import os,signal,subprocess,sys\nsignal.signal(signal.SIGTERM, lambda *a: os._exit(0))\nos.write(1, f"APP {os.getuid()}\\n".encode())\nsubprocess.Popen([${JSON.stringify(helper)}])\nsys.path.insert(0, ${JSON.stringify(readable(FIXTURES))})\nimport wait_signals\nwait_signals.forever()`;
    const p = startPidone({
      cwd: dir,
      wrap: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
      args: ["--restart", "never", "--stop-timeout", `${STOP_TIMEOUT_MS}ms`, "--", "python3", "-c", app],
    });
    await p.waitForStdout(/APP 65534/, 20_000);
    const [root] = await p.waitForStdout(/ROOT (\d+)/, 20_000);
    await p.waitForEvent("ready");
    p.signal("SIGTERM");
    const exit = await p.waitExit(STOP_TIMEOUT_MS + KILL_GRACE_MS + SLACK_MS);
    expect(exit.code, p.output()).toBe(0);
    expect(p.all("internal-error"), p.output()).toEqual([]);
    const denied = p.all("signal-denied");
    expect(denied, p.output()).toHaveLength(1);
    expect(denied[0]).toMatchObject({ level: 40, pid: Number(root?.[1]) });
  });
});
