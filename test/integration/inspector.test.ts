// SIGUSR1 is the restart signal, but a SIGUSR1 that reaches Node before a JS handler exists
// opens the inspector on 127.0.0.1:9229. pidone installs its handlers first thing (the bundle's
// banner); where Node has --disable-sigusr1 (22.14+) the window is closed entirely; where it
// does not, pidone closes an inspector that an early signal opened. With --disable-sigusr1 Node
// leaves SIGUSR1 blocked, and pidone must unblock it or `kill -USR1 1` never arrives.
import { afterEach, describe, expect, it } from "vitest";
import net from "node:net";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { FIXTURES, NODE22, PIDONE_NODE, cleanupAll, startPidone, type Pidone } from "../helpers/pidone.js";

afterEach(cleanupAll);

const accepts = (node: string) => {
  try {
    execFileSync(node, ["--disable-sigusr1", "-e", "0"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
const hasDisableSigusr1 = accepts(PIDONE_NODE);

function port9229Open(): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(9229, "127.0.0.1");
    c.once("connect", () => { c.destroy(); resolve(true); });
    c.once("error", () => resolve(false));
  });
}

/** Send SIGUSR1 to the namespace's PID 1 as fast as possible from the moment it exists until pidone is ready. */
async function stormUntilReady(p: Pidone): Promise<number> {
  let sent = 0;
  const unshare = p.proc.pid as number;
  const deadline = Date.now() + 15_000;
  while (!p.events.some((e) => e.event === "ready")) {
    if (p.exit || Date.now() > deadline) throw new Error(`pidone never became ready\n${p.output()}`);
    let kids = "";
    try {
      kids = readFileSync(`/proc/${unshare}/task/${unshare}/children`, "latin1").trim();
    } catch {
      // not started yet
    }
    if (kids) {
      try {
        process.kill(Number(kids.split(" ")[0]), "SIGUSR1");
        sent++;
      } catch {
        // gone or not yet there
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  return sent;
}

describe("SIGUSR1 during startup", () => {
  it("leaves no inspector listening once pidone is up, and pidone keeps supervising", async () => {
    const p = startPidone({ args: ["--log-level", "debug", "--", "python3", path.join(FIXTURES, "signals.py")], nodeArgs: hasDisableSigusr1 ? ["--disable-sigusr1"] : [] });
    const sent = await stormUntilReady(p);
    expect(sent, p.output()).toBeGreaterThan(0);
    // The storm's signals are not lost: at least one reaches pidone and restarts the app. Then
    // wait until the last requested restart's app has its TERM trap (READY), so the stop below is clean.
    await p.waitForEvent("restart-requested", (e) => e.source === "signal");
    const settled = () => {
      const last = p.events.filter((e) => ["restart-requested", "restart-coalesced", "restart"].includes(e.event)).at(-1);
      return last?.event === "restart" && p.stdout.toString().includes(`app READY ${String(last.newPid)}\n`);
    };
    await p.until(settled, "the last restart's app to be READY");
    const opened = () => p.stderr.split("Debugger listening").length - 1;
    if (hasDisableSigusr1) {
      expect(opened(), p.output()).toBe(0);
    } else {
      // Node's watchdog may reopen the inspector once per boot-time signal: pidone's guard ends
      // after a bounded watch, and must have closed every one it saw.
      const done = await p.waitForEvent("inspector-guard-done", () => true, 10_000);
      expect(p.all("inspector-closed").length, p.output()).toBe(opened());
      expect(done.closed).toBe(opened());
    }
    expect(await port9229Open(), p.output()).toBe(false);
    expect(p.exit).toBeNull();
    p.signal("SIGTERM");
    expect((await p.waitExit()).code, p.output()).toBe(0);
  });
});

describe.skipIf(!existsSync(NODE22) || !accepts(NODE22))("Node 22 with --disable-sigusr1 (the launcher's form)", () => {
  it("SIGUSR1 to PID 1 restarts the app, and never opens the inspector", async () => {
    const p = startPidone({ args: ["--", "python3", path.join(FIXTURES, "signals.py")], node: NODE22, nodeArgs: ["--disable-sigusr1"] });
    await p.waitForEvent("ready");
    await p.waitForStdout(/app READY/);
    p.signal("SIGUSR1");
    const ev = await p.waitForEvent("restart", () => true, 10_000);
    expect(ev.source).toBe("signal");
    await p.waitForStdout(/app READY/, 10_000, 2);
    expect(p.stderr).not.toContain("Debugger listening");
    expect(await port9229Open(), p.output()).toBe(false);
    p.signal("SIGTERM");
    expect((await p.waitExit()).code, p.output()).toBe(0);
  });
});
