// Signals sent to PID 1 reach the app (its group by default), stops escalate to SIGKILL, and
// nothing the app left behind survives a stop.
import { afterEach, describe, expect, it } from "vitest";
import path from "node:path";
import { FIXTURES, cleanupAll, startPidone } from "../helpers/pidone.js";
import { readProc } from "../helpers/proc.js";

afterEach(cleanupAll);
const SIGNALS = path.join(FIXTURES, "signals.py");
const base = ["--restart", "never", "--no-trigger-file"];

async function started(args: string[], env: Record<string, string> = {}, ready = /app READY/) {
  const p = startPidone({ args, env });
  await p.waitForStdout(ready);
  await p.waitForEvent("ready");
  return p;
}

describe("stop signals", () => {
  it("SIGTERM reaches an app that handles it; pidone exits with its code", async () => {
    const p = await started([...base, "--", SIGNALS], { EXIT_ON_TERM: "7" });
    p.signal("SIGTERM");
    expect((await p.waitExit()).code, p.output()).toBe(7);
    expect(p.stdout.toString()).toContain("app GOT TERM");
  });

  it("SIGTERM kills an app without a handler: exit 143", async () => {
    const p = startPidone({ args: [...base, "--", "sleep", "1000"] });
    await p.waitForEvent("ready");
    p.signal("SIGTERM");
    expect((await p.waitExit()).code, p.output()).toBe(143);
  });

  it("SIGINT reaches an app that handles it", async () => {
    const p = await started([...base, "--", SIGNALS], { EXIT_ON_INT: "0" });
    p.signal("SIGINT");
    expect((await p.waitExit()).code, p.output()).toBe(0);
    expect(p.stdout.toString()).toContain("app GOT INT");
  });

  it("SIGINT kills an app without a handler: exit 130", async () => {
    const p = startPidone({ args: [...base, "--", "sleep", "1000"] });
    await p.waitForEvent("ready");
    p.signal("SIGINT");
    expect((await p.waitExit()).code, p.output()).toBe(130);
  });

  it.each([
    ["ignores", { IGNORE_TERM: "1" }, "it ignores SIGTERM"],
    ["blocks", { BLOCK_TERM: "1" }, "it blocks SIGTERM, which is pending"],
  ])("escalates to SIGKILL after --stop-timeout when the app %s SIGTERM, and says so", async (_how, env, why) => {
    const p = await started([...base, "--stop-timeout", "300ms", "--", SIGNALS], env);
    p.signal("SIGTERM");
    expect((await p.waitExit()).code, p.output()).toBe(137);
    expect(p.all("stop-timeout"), p.output()).toMatchObject([{ signal: "SIGTERM", appState: expect.stringMatching(/^S /), why }]);
  });

  it("a second SIGTERM during the stop kills at once", async () => {
    const p = await started([...base, "--stop-timeout", "60s", "--", SIGNALS], { IGNORE_TERM: "1" });
    p.signal("SIGTERM");
    await p.waitForEvent("stopping");
    p.signal("SIGTERM");
    // Far below the 60 s stop timeout: only the kill-now path can end it in time.
    expect((await p.waitExit(10_000)).code, p.output()).toBe(137);
    expect(p.all("kill-now")).toHaveLength(1);
  });

  it("a descendant that called setsid still gets SIGTERM on stop, before pidone exits", async () => {
    const p = await started([...base, "--", "sh", "-c", `setsid ${SIGNALS} detached & exec ${SIGNALS} app`], {}, /detached READY[\s\S]*app READY|app READY[\s\S]*detached READY/);
    const detached = p.tree().find((x) => x.cmdline.includes("detached") && x.cmdline.includes("signals.py"));
    expect(detached, p.output()).toBeDefined();
    expect(detached?.sid).toBe(detached?.pid); // really in its own session
    p.signal("SIGTERM");
    expect((await p.waitExit()).code, p.output()).toBe(0);
    // Printed by its trap: a process killed by the namespace's teardown (SIGKILL) prints nothing.
    expect(p.stdout.toString()).toContain("detached GOT TERM");
    expect(p.all("stop-timeout"), p.output()).toHaveLength(0);
  });
});

describe("forwarded signals", () => {
  const tree = `${SIGNALS} child & exec ${SIGNALS} app`;
  const bothReady = /(app READY[\s\S]*child READY|child READY[\s\S]*app READY)/;

  it("HUP, USR2, WINCH and CONT reach the app and its group", async () => {
    const p = await started([...base, "--", "sh", "-c", tree], {}, bothReady);
    for (const sig of ["SIGHUP", "SIGUSR2", "SIGWINCH", "SIGCONT"] as const) {
      p.signal(sig);
      const name = sig.slice(3);
      await p.waitForStdout(new RegExp(`app GOT ${name}`));
      await p.waitForStdout(new RegExp(`child GOT ${name}`));
    }
  });

  it("every other catchable signal reaches the app and its group (tini forwards them all)", async () => {
    const p = await started([...base, "--", "sh", "-c", tree], {}, bothReady);
    for (const sig of ["SIGPWR", "SIGALRM", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGURG", "SIGIO", "SIGSTKFLT", "SIGABRT"] as const) {
      p.signal(sig);
      const name = sig.slice(3);
      await p.waitForStdout(new RegExp(`app GOT ${name}\n`), 5000);
      await p.waitForStdout(new RegExp(`child GOT ${name}\n`), 5000);
    }
    expect(p.exit, p.output()).toBeNull();
  });

  it("--single-child signals only the app, not the rest of its group", async () => {
    const p = await started([...base, "--single-child", "--", "sh", "-c", tree], {}, bothReady);
    p.signal("SIGUSR2");
    await p.waitForStdout(/app GOT USR2/);
    p.signal("SIGTERM");
    await p.waitExit();
    // The child got SIGTERM only from the sweep after the app exited, never the USR2.
    expect(p.stdout.toString(), p.output()).toContain("child GOT TERM");
    expect(p.stdout.toString()).not.toContain("child GOT USR2");
    expect(p.all("stop-timeout"), p.output()).toHaveLength(0);
  });

  it("SIGTSTP suspends the app (sent as SIGSTOP: its group is orphaned) and SIGCONT resumes it", async () => {
    const p = await started([...base, "--", SIGNALS]);
    const app = p.tree().find((x) => x.cmdline.includes("signals.py"));
    expect(app, p.output()).toBeDefined();
    p.signal("SIGTSTP");
    // No event exists for "stopped": poll /proc, bounded.
    await p.until(() => readProc(app!.pid)?.state === "T", "app stopped (state T)", 5000, 10);
    p.signal("SIGCONT");
    await p.waitForStdout(/app GOT CONT/);
    expect(readProc(app!.pid)?.state).not.toBe("T");
  });
});

describe("--stop-signal", () => {
  it("a restart sends the stop signal, and so does a stop asked for by SIGTERM", async () => {
    const p = await started([...base, "--restart-signal", "SIGHUP", "--stop-signal", "SIGINT", "--", SIGNALS], { EXIT_ON_TERM: "9" });
    p.signal("SIGHUP");
    await p.waitForStdout(/app GOT INT/);
    await p.waitForStdout(/app READY/, 10_000, 2);
    await p.waitForEvent("restart");
    p.signal("SIGTERM");
    const stopping = await p.waitForEvent("stopping");
    expect(stopping).toMatchObject({ signal: "SIGTERM", sent: "SIGINT" });
    // EXIT_ON_INT defaults to 0; a SIGTERM would have made it exit 9.
    expect((await p.waitExit()).code, p.output()).toBe(0);
    expect(p.stdout.toString().match(/app GOT INT/g), p.output()).toHaveLength(2);
    expect(p.stdout.toString()).not.toContain("GOT TERM");
  });

  it("SIGQUIT to pidone still goes as SIGQUIT", async () => {
    const p = await started([...base, "--stop-signal", "SIGINT", "--", SIGNALS]);
    p.signal("SIGQUIT");
    await p.waitForStdout(/app GOT QUIT/);
    expect(p.stdout.toString()).not.toContain("GOT INT");
  });

  it("--stop-signal SIGSTOP is refused before anything starts (exit 2)", async () => {
    const p = startPidone({ args: [...base, "--stop-signal", "STOP", "--", SIGNALS] });
    expect((await p.waitExit()).code).toBe(2);
    expect(p.stderr).toMatch(/^pidone: --stop-signal: SIGSTOP cannot be the stop signal .*\n$/);
  });
});
