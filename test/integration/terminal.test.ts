// With a terminal (docker run -it, kubectl run -it), the app gets it: its process group is the
// terminal's foreground, so ^C goes to the app as SIGINT the way it would without pidone, and
// job control works. Driven through a real pty (test/fixtures/pty-run.py): pidone runs as PID 1
// with the pty's slave as its stdin, stdout, stderr and controlling terminal.
import { afterEach, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { FIXTURES, cleanupAll, startPidone, type Pidone } from "../helpers/pidone.js";
import { readProc } from "../helpers/proc.js";

const PTY = path.join(FIXTURES, "pty-run.py");
const APP = path.join(FIXTURES, "tty-app.py");
const started: Pidone[] = [];

afterEach(async () => {
  // Killing the driver closes the pty; make sure nothing under it outlives the test either.
  for (const p of started.splice(0)) {
    if (p.exit) continue;
    for (const d of p.tree()) {
      try {
        process.kill(d.pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
  }
  await cleanupAll();
});

/** pidone as PID 1 on a fresh pty; the pty's output (app and pidone's JSON log) is p.stdout. */
function onPty(args: string[], env: Record<string, string> = {}): Pidone {
  const p = startPidone({ args, env, namespace: false, wrap: ["python3", PTY, "unshare", "--pid", "--fork", "--mount-proc", "--kill-child"] });
  started.push(p);
  return p;
}

/** Type a key on the pty: the driver writes it to the master when signalled. */
const type = (p: Pidone, key: "^C" | "^Z") => process.kill(p.proc.pid as number, key === "^C" ? "SIGUSR1" : "SIGUSR2");

/** The app's report: its pid, group, and the terminal's foreground group. */
async function report(p: Pidone, n = 1) {
  const m = (await p.waitForStdout(/(\w+) TTY pid=(\d+) pgrp=(\d+) fg=(\S+) foreground=(\w+) listen_pid=(\S+)/, 10_000, n))[n - 1] as RegExpMatchArray;
  return { label: m[1], pid: Number(m[2]), pgrp: Number(m[3]), fg: m[4], foreground: m[5] === "True", listenPid: m[6] };
}

/** The app's process (the driver, unshare and pidone carry its path in their argv too). */
const appProc = (p: Pidone) => p.tree().find((x) => x.comm.startsWith("python") && x.cmdline.includes("tty-app.py"));

const base = ["--restart", "never", "--no-control-socket"];
const stopping = (p: Pidone) => p.stdout.toString().includes('"event":"stopping"');

describe("terminal", () => {
  it("the app's group is the terminal's foreground, and ^C goes to the app, not to pidone", async () => {
    const p = onPty([...base, "--no-trigger-file", "--", APP]);
    const r = await report(p);
    expect(r.pgrp, p.output()).toBe(r.pid); // a group of its own...
    expect(r.foreground, p.output()).toBe(true); // ...that holds the terminal
    await p.waitForStdout(/app READY/);
    await p.waitForStdout(/"event":"ready"/);
    // Same session as pidone (not setsid): only then can the terminal be handed over.
    const app = appProc(p);
    const pidone = app && readProc(app.ppid);
    expect(app?.sid, p.output()).toBe(pidone?.sid);
    expect(app?.pgid).not.toBe(pidone?.pgid);

    type(p, "^C");
    await p.waitForStdout(/app GOT INT 1/);
    expect(stopping(p), p.output()).toBe(false);
    expect(p.exit).toBeNull();
    type(p, "^C");
    expect((await p.waitExit()).code, p.output()).toBe(5);
    expect(p.stdout.toString()).toMatch(/PTY EXIT code=5/);
    expect(stopping(p), p.output()).toBe(false); // it ended on its own: pidone never got the SIGINT
  });

  it("an app without a SIGINT handler dies of ^C and pidone exits 130", async () => {
    const p = onPty([...base, "--no-trigger-file", "--", APP], { NO_INT_HANDLER: "1" });
    expect((await report(p)).foreground, p.output()).toBe(true);
    await p.waitForStdout(/app READY/);
    type(p, "^C");
    expect((await p.waitExit()).code, p.output()).toBe(130);
    expect(p.stdout.toString()).toMatch(/"event":"app-exited"[^\n]*"signal SIGINT"/);
    expect(stopping(p), p.output()).toBe(false);
  });

  it("bash -i has job control (no 'no job control' warning; monitor mode is on)", async () => {
    const p = onPty([...base, "--no-trigger-file", "--", "bash", "--norc", "-ic", 'echo "FLAGS=$-"']);
    const m = (await p.waitForStdout(/FLAGS=(\w+)/))[0] as RegExpMatchArray;
    expect((await p.waitExit()).code, p.output()).toBe(0);
    expect(m[1], p.output()).toContain("m");
    expect(p.stdout.toString()).not.toMatch(/no job control|cannot set terminal process group/);
  });

  it("^Z stops the app, not pidone, and pidone does not see it", async () => {
    const p = onPty([...base, "--log-level", "debug", "--no-trigger-file", "--", APP], { NO_INT_HANDLER: "1" });
    await report(p);
    await p.waitForStdout(/app READY/);
    await p.waitForStdout(/"event":"ready"/);
    const app = appProc(p);
    type(p, "^Z");
    await p.until(() => readProc(app!.pid)?.state === "T", "app stopped (state T)", 5000, 10);
    expect(readProc(app!.ppid)?.state, p.output()).not.toBe("T");
    // The kernel stopped the foreground group; pidone forwarded nothing (without the terminal
    // handover pidone gets the SIGTSTP and stops the app itself with SIGSTOP).
    expect(p.stdout.toString(), p.output()).not.toContain('"event":"signal-forwarded"');
  });

  it("each new generation gets the terminal again", async () => {
    const p = onPty([...base, "--restart-signal", "SIGHUP", "--", APP]);
    const first = await report(p);
    expect(first.foreground, p.output()).toBe(true);
    await p.waitForStdout(/app READY/);
    await p.waitForStdout(/"event":"ready"/);
    writeFileSync(path.join(p.dir, ".restart_trigger"), "");
    const second = await report(p, 2);
    expect(second.pid, p.output()).not.toBe(first.pid);
    expect(second.pgrp).toBe(second.pid);
    expect(second.foreground, p.output()).toBe(true);
    await p.waitForStdout(/app READY/, 10_000, 2);
    type(p, "^C");
    await p.waitForStdout(/app GOT INT 1/);
    expect(stopping(p), p.output()).toBe(false);
  });

  it("with --listen the app also gets LISTEN_PID (same shim)", async () => {
    const p = onPty([...base, "--no-trigger-file", "--listen", "unix:app.sock", "--", APP]);
    const r = await report(p);
    expect(r.foreground, p.output()).toBe(true);
    expect(r.listenPid, p.output()).toBe(String(r.pid));
  });

  it("without a terminal the app still gets a session of its own (setsid)", async () => {
    const p = startPidone({ args: [...base, "--no-trigger-file", "--", APP] });
    const r = await report(p);
    expect(r.fg, p.output()).toMatch(/^error:/); // no controlling terminal at all
    const app = appProc(p);
    expect(app?.sid, p.output()).toBe(app?.pid);
  });
});
