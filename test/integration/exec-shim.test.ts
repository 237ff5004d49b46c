// The node exec shim (--listen without /bin/sh; forced here by PIDONE_EXEC_SHIM=node) is a Node
// process with the bundle's early signal handlers until it execs the app. A stop signal that
// reaches it in that window must end it, not be swallowed: otherwise the app starts, never
// hears of the stop, and pidone waits out --stop-timeout.
import { afterEach, describe, expect, it } from "vitest";
import path from "node:path";
import { FIXTURES, cleanupAll, startPidone, type Pidone } from "../helpers/pidone.js";
import { catchesSignal } from "../../src/sys/proc.js";

afterEach(cleanupAll);
const SIGNALS = path.join(FIXTURES, "signals.py");
// Node itself catches SIGTERM from its boot (to reset the terminal, then die of it): SIGQUIT is
// caught only once the bundle's early handlers are in.
const SIGQUIT = 3;
const args = ["--restart", "never", "--no-trigger-file", "--stop-timeout", "30s", "--restart-signal", "SIGHUP", "--listen", "unix:app.sock", "--", SIGNALS];
const env = { PIDONE_EXEC_SHIM: "node" };

/** Wait until a shim that is not `except` has the early handlers in (it catches SIGQUIT) and has
 *  not exec'ed the app yet: the window in which the shim must replay a signal it caught, or drop
 *  it. The window lasts milliseconds and is polled from outside, so it can be missed: null then
 *  (the app started). */
function shimInWindow(p: Pidone, except = -1, readyBefore = 0): Promise<number | null> {
  return p.until(() => {
    if ((p.stdout.toString().match(/app READY/g)?.length ?? 0) > readyBefore) return { pid: null };
    let tree: ReturnType<Pidone["tree"]>;
    try {
      tree = p.tree();
    } catch {
      return undefined; // unshare has not forked pidone yet
    }
    const shim = tree.find((x) => x.pid !== except && x.cmdline.includes("__exec-shim"));
    return shim && catchesSignal(shim.pid, SIGQUIT) ? { pid: shim.pid } : undefined;
  }, "the exec shim with its early handlers in, or the app", 10_000, 1).then((r) => r.pid);
}

/** Run `attempt` until it has hit the window `hits` times (at most `tries` runs). */
async function inWindow(tries: number, hits: number, attempt: () => Promise<boolean>): Promise<void> {
  let hit = 0;
  for (let i = 0; i < tries && hit < hits; i++) if (await attempt()) hit++;
  expect(hit, `the window was hit ${hit} times in ${tries} runs`).toBeGreaterThanOrEqual(hits);
}

describe("exec shim: signals before the exec", () => {
  it("a SIGTERM while the shim runs ends it at once (143), never waiting out --stop-timeout", async () => {
    await inWindow(15, 3, async () => {
      const p = startPidone({ args, env });
      try {
        if ((await shimInWindow(p)) === null) return false;
        p.signal("SIGTERM");
        // 30 s --stop-timeout: only a signal that was not dropped ends this in time.
        const exit = await p.waitExit(10_000);
        expect(exit.code, p.output()).toBe(143);
        expect(p.all("stop-timeout"), p.output()).toHaveLength(0);
        return true;
      } finally {
        await p.cleanup();
      }
    });
  });

  it("a restart, then a stop that hits the new generation's shim: the stop completes", async () => {
    await inWindow(15, 3, async () => {
      const p = startPidone({ args, env });
      try {
        await p.waitForStdout(/app READY/);
        await p.waitForEvent("ready");
        const first = p.tree().find((x) => x.cmdline.includes("signals.py") && !x.cmdline.includes("__exec-shim"))?.pid ?? -1;
        p.signal("SIGHUP");
        if ((await shimInWindow(p, first, 1)) === null) return false;
        p.signal("SIGTERM");
        const exit = await p.waitExit(10_000);
        expect(exit.code, p.output()).toBe(143);
        expect(p.all("stop-timeout"), p.output()).toHaveLength(0);
        return true;
      } finally {
        await p.cleanup();
      }
    });
  });
});
