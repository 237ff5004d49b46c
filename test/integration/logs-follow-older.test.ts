// `pidone logs --follow` from an older generation (--previous, --generation N) goes on through
// every later kept generation, the current one included, each under its marker.
import { afterEach, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { BUNDLE, cleanupAll, run, startPidone } from "../helpers/pidone.js";

afterEach(cleanupAll);

describe("pidone logs --follow from an older generation", () => {
  it("--previous --follow: the previous generation, then the current one", async () => {
    const p = startPidone({ args: ["--", "sh", "-c", "echo hello from $$; exec sleep 1000"] });
    const [first] = await p.waitForStdout(/hello from (\d+)\n/);
    const r = await run(process.execPath, [BUNDLE, "restart", "--wait", "running"], { env: { PIDONE_CONTROL_SOCKET: p.socket } });
    expect(r.code, r.stderr).toBe(0);
    const second = r.stdout.trim();
    await p.waitForStdout(new RegExp(`hello from ${second}\\n`));
    const c = spawn(process.execPath, [BUNDLE, "logs", "--previous", "--follow"], { env: { ...process.env, PIDONE_CONTROL_SOCKET: p.socket }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    // Wait for the current generation's line and its marker (stdout and stderr are two pipes:
    // either may come first), or the deadline.
    const seen = new Promise<void>((resolve) => {
      const deadline = setTimeout(resolve, 5000);
      const check = () => {
        if (out.includes(`hello from ${second}\n`) && err.includes("--- generation 2 ")) {
          clearTimeout(deadline);
          resolve();
        }
      };
      c.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        check();
      });
      c.stderr.on("data", (d: Buffer) => {
        err += d.toString();
        check();
      });
    });
    try {
      await seen;
      expect(out).toBe(`hello from ${first?.[1]}\nhello from ${second}\n`);
      expect(err).toMatch(new RegExp(`--- generation 2 \\(pid ${second}\\) ---`));
    } finally {
      c.kill("SIGKILL");
    }
  }, 30_000);
});
