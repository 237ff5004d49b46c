// Job-control stops reach an app that catches them unchanged, and go as SIGSTOP to one that
// does not (its process group is orphaned, so the kernel would discard the default stop).
import { afterEach, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { deliverable } from "../../src/child/tree.js";
import { catchesSignal } from "../../src/sys/proc.js";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

/** A python3 process that catches the given signals, ready once it says so. */
function catcher(signals: string[]): Promise<number> {
  const code = `import signal,sys\nfor s in ${JSON.stringify(signals)}: signal.signal(getattr(signal, s), lambda *a: None)\nprint("ready", flush=True)\nsignal.pause()`;
  const c = spawn("python3", ["-c", code], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(c);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("fixture not ready in 10 s")), 10_000);
    c.stdout?.once("data", () => { clearTimeout(t); resolve(c.pid as number); });
  });
}

describe("deliverable", () => {
  it("passes SIGTTIN/SIGTTOU to an app that catches them (gunicorn scales workers with them)", async () => {
    const pid = await catcher(["SIGTTIN", "SIGTTOU"]);
    expect(catchesSignal(pid, 21)).toBe(true);
    expect(deliverable(pid, "SIGTTIN")).toBe("SIGTTIN");
    expect(deliverable(pid, "SIGTTOU")).toBe("SIGTTOU");
    expect(deliverable(pid, "SIGTSTP")).toBe("SIGSTOP"); // not caught
  });

  it("sends SIGSTOP for job-control stops the app leaves at their default", async () => {
    const pid = await catcher([]);
    for (const s of ["SIGTSTP", "SIGTTIN", "SIGTTOU"] as const) expect(deliverable(pid, s)).toBe("SIGSTOP");
  });

  it("leaves every other signal alone, and a vanished pid gets SIGSTOP for a stop", () => {
    expect(deliverable(process.pid, "SIGHUP")).toBe("SIGHUP");
    expect(deliverable(process.pid, "SIGWINCH")).toBe("SIGWINCH");
    expect(deliverable(2 ** 22 + 1, "SIGTSTP")).toBe("SIGSTOP");
  });
});
