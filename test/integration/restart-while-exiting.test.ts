// `pidone restart` while pidone itself ends: the client gets pidone's answer, not a closed
// connection it would take for a busy socket (and retry into "no pidone is listening", exit 3).
import { afterEach, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { BUNDLE, cleanupAll, run, startPidone, type Pidone } from "../helpers/pidone.js";

afterEach(cleanupAll);

const client = (p: Pidone, ...args: string[]) => run(process.execPath, [BUNDLE, ...args], { env: { PIDONE_CONTROL_SOCKET: p.socket }, timeoutMs: 20_000 });

describe("pidone restart while pidone exits", () => {
  it("a stop signal during the settle window: exit 1, 'pidone is exiting'", async () => {
    const p = startPidone({ args: ["--", "sh", "-c", "echo app up; exec sleep 1000"] });
    await p.waitForEvent("ready");
    const out = client(p, "restart", "--settle", "10s");
    await p.waitForEvent("restart");
    p.signal("SIGTERM");
    const r = await out;
    expect((await p.waitExit()).code).toBe(143);
    expect(r.code, `${r.stderr}\n${p.output()}`).toBe(1);
    expect(r.stderr).toMatch(/pidone restart: pidone is exiting/);
  });

  it("--restart never, the new generation exits: exit 5 with its status and output, as pidone exits with it", async () => {
    const p = startPidone({ args: ["--restart", "never", "--", "sh", "-c", "if [ -e broken ]; then echo 'Traceback: boom' >&2; exit 3; fi; echo app up; exec sleep 1000"] });
    await p.waitForEvent("ready");
    writeFileSync(path.join(p.dir, "broken"), "");
    const r = await client(p, "restart", "--settle", "10s");
    expect((await p.waitExit()).code).toBe(3);
    expect(r.code, `${r.stderr}\n${p.output()}`).toBe(5);
    expect(r.stderr).toMatch(/exited \(exit 3\) after \d+ ms, before it was ready/);
    expect(r.stderr).toMatch(/Traceback: boom/);
  });
});
