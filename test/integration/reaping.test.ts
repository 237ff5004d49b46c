// Every zombie in the namespace is reaped, orphans included, without stealing the exit status
// of the children Node itself spawned.
import { afterEach, describe, expect, it } from "vitest";
import path from "node:path";
import { FIXTURES, cleanupAll, startPidone } from "../helpers/pidone.js";
import { zombies } from "../helpers/proc.js";

afterEach(cleanupAll);
const ORPHANS = path.join(FIXTURES, "orphans.py");
const PY = "python3";
const reapedCount = (events: { event: string; count?: unknown }[]) =>
  events.filter((e) => e.event === "reaped").reduce((n, e) => n + Number(e.count), 0);

describe("reaping", () => {
  it("reaps 1000 orphans that exit at once, leaving no zombie", async () => {
    const p = startPidone({ args: ["--restart", "never", "--log-level", "debug", "--", PY, ORPHANS, "1000"] });
    await p.waitForStdout(/ORPHANS READY 1000/, 30_000);
    await p.waitForEvent("ready");
    const before = p.tree().length;
    expect(before, p.output()).toBeGreaterThanOrEqual(1001);
    p.signal("SIGUSR2");
    await p.until(() => reapedCount(p.events) >= 1000, "1000 orphans reaped", 20_000);
    expect(zombies(p.pid1)).toEqual([]);
    expect(p.tree().map((x) => x.comm)).toEqual(["python3"]);
  });

  it("negative control: a PID 1 that does not reap leaves the same orphans as zombies", async () => {
    // python3 itself as PID 1: it never waits for the orphans it inherits. Shows that the
    // zombie count above would catch a pidone that did not reap.
    const p = startPidone({ node: PY, bundle: ORPHANS, args: ["200"] });
    await p.waitForStdout(/ORPHANS READY 200/, 30_000);
    p.signal("SIGUSR2");
    await p.until(() => zombies(p.pid1).length >= 200, "200 zombies under a non-reaping PID 1", 10_000, 20);
  });

  it("never loses the app's own exit while orphans are being reaped", async () => {
    for (let round = 0; round < 5; round++) {
      const p = startPidone({ args: ["--restart", "never", "--", PY, ORPHANS, "300"], env: { EXIT_CODE: "7" } });
      await p.waitForStdout(/ORPHANS READY/, 30_000);
      await p.waitForEvent("ready");
      p.signal("SIGUSR2"); // the app releases 300 orphans and exits 7 at the same moment
      const exit = await p.waitExit(10_000);
      expect(exit.code, `round ${round}\n${p.output()}`).toBe(7);
      await p.cleanup();
    }
  });

  it("an app that spawns and waits for many children itself sees every exit", async () => {
    const p = startPidone({ args: ["--restart", "never", "--log-level", "debug", "--", process.execPath, path.join(FIXTURES, "many-children.js"), "200"] });
    const exit = await p.waitExit(40_000);
    expect(p.stdout.toString(), p.output()).toContain("ALL EXITED 200");
    expect(exit.code).toBe(0);
    expect(reapedCount(p.events)).toBeGreaterThan(0); // the orphaned sleeps came to pidone
  });

  it("when not PID 1, becomes a child subreaper and reaps the app's orphans", async () => {
    const p = startPidone({ namespace: false, args: ["--restart", "never", "--log-level", "debug", "--", PY, ORPHANS, "50"] });
    await p.waitForStdout(/ORPHANS READY 50/, 30_000);
    expect(p.all("subreaper")).toHaveLength(1);
    p.signal("SIGUSR2");
    await p.until(() => reapedCount(p.events) >= 50, "50 orphans reaped by the subreaper", 20_000);
    expect(zombies(p.pid1)).toEqual([]);
    // Not PID 1, pidone's death would not take the app with it: stop it the way a user would.
    p.signal("SIGTERM");
    const exit = await p.waitExit();
    expect(exit.code, p.output()).not.toBeNull();
    expect(p.tree(), p.output()).toEqual([]);
  });
});
