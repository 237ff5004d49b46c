// The README's quick start: `npm start` runs pidone over a demo app and shows every restart
// source working, then the inner loop through `pidone sync`: a save, a broken save whose
// traceback shows in sync's output while pidone stays up, and the fix. Run here in tour-only mode
// so the first README command stays true.
import { describe, expect, it } from "vitest";
import path from "node:path";
import { ROOT, run } from "../helpers/pidone.js";
import { freePort } from "../helpers/http.js";


describe("npm start demo", () => {
  it("walks through SIGUSR1, the trigger file, a watched file, pidone restart, a crash, and a save, a broken save and the fix through pidone sync", async () => {
    const port = await freePort();
    const r = await run(process.execPath, [path.join(ROOT, "scripts/demo.mjs")], { env: { DEMO_TOUR_ONLY: "1", PORT: String(port) }, timeoutMs: 60_000 });
    const out = r.stdout + r.stderr;
    expect(r.code, out).toBe(0);
    expect(out.match(/restarted in place: app pid \d+ -> \d+/g), out).toHaveLength(4);
    expect(out).toMatch(/restarted after the crash/);
    for (const source of ["signal", "trigger-file", "watch", "control", "crash"]) expect(out).toMatch(new RegExp(`restart source=${source}`));
    // The inner loop: each save's own output behind sync's gutter, the broken one's traceback
    // with the path in LOCAL_DIR (the demo's src/), pidone up and waiting, then the fix serving.
    expect(out).toMatch(/^│ hello from the new code$/m);
    // Node fails within the 300 ms up-window (the report says so), or, on a loaded machine, after
    // it (a notice follows the report).
    expect(out).toMatch(/^pidone sync: (synced 1 file .*; the new code exited 1 after \d+ ms: fix and save, pidone waits for the next change|the app started by batch \d+ \(pid \d+\) ended \(exit 1\); its output is above: fix and save)$/m);
    expect(out).toMatch(/^│ \S*\/pidone-demo-\w+\/src\/app\.js:\d+$/m);
    expect(out).toMatch(/^│ SyntaxError: /m);
    expect(out).toMatch(/pidone stays up, waiting for the next save \(pidone status: state broken\)/);
    expect(out).toMatch(/^│ fixed, and serving$/m);
    expect(out).toMatch(/demo: the fix serves: app pid \d+/);
    expect(out).not.toMatch(/gave-up/);
  });
});
