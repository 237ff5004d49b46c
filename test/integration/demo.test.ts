// The README's quick start: `npm start` runs pidone over a demo app and shows every restart
// source working. Run here in tour-only mode so the first README command stays true.
import { describe, expect, it } from "vitest";
import path from "node:path";
import { ROOT, run } from "../helpers/pidone.js";
import { freePort } from "../helpers/http.js";


describe("npm start demo", () => {
  it("walks through SIGUSR1, the trigger file, a watched file, pidone restart and a crash", async () => {
    const port = await freePort();
    const r = await run(process.execPath, [path.join(ROOT, "scripts/demo.mjs")], { env: { DEMO_TOUR_ONLY: "1", PORT: String(port) }, timeoutMs: 60_000 });
    const out = r.stdout + r.stderr;
    expect(r.code, out).toBe(0);
    expect(out.match(/restarted in place: app pid \d+ -> \d+/g), out).toHaveLength(4);
    expect(out).toMatch(/restarted after the crash/);
    for (const source of ["signal", "trigger-file", "watch", "control", "crash"]) expect(out).toMatch(new RegExp(`restart source=${source}`));
  });
});
