// `pidone logs --follow | head -1`: when the reader of the client's stdout goes away, the client
// ends quietly (exit 0), as cat does, instead of dying of an unhandled EPIPE with a stack trace.
import { afterEach, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { BUNDLE, cleanupAll, startPidone } from "../helpers/pidone.js";

afterEach(cleanupAll);

describe("pidone logs when its reader goes away", () => {
  it("--follow, stdout closed after the first bytes, the app printing on: exit 0, no stack trace", async () => {
    const p = startPidone({ args: ["--", "sh", "-c", "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.01; done"] });
    await p.waitForStdout(/line 1\n/);
    const c = spawn(process.execPath, [BUNDLE, "logs", "--follow"], { env: { ...process.env, PIDONE_CONTROL_SOCKET: p.socket }, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    c.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => c.on("exit", (code) => resolve(code)));
    // The first bytes, then the reader is gone: the client's next write meets a closed pipe.
    await new Promise<void>((resolve) => c.stdout.once("data", () => resolve()));
    c.stdout.destroy();
    const deadline = setTimeout(() => c.kill("SIGKILL"), 10_000);
    const code = await exited;
    clearTimeout(deadline);
    expect({ code, err }).toEqual({ code: 0, err: "" });
  }, 30_000);
});
