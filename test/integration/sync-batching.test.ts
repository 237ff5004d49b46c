// How `pidone sync` (default batching) cuts what happens in LOCAL_DIR into batches, end to end:
// pidone as PID 1, the sender watching, `pidone receive` through a local transport. A save is one
// batch and one restart; a checkout-like burst of 500 file writes, in a tight loop or with gaps of
// 1-5 ms, is at most two (change-queue.ts's rule: a burst whose gaps stay under QUIET_MAX_MS gives
// at most two batches). Waits are for events; no timing is asserted (that is the bench's job).
import { afterEach, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { cleanupAll, run, startPidone, type Pidone } from "../helpers/pidone.js";
import { cleanEnv, cleanupSyncs, localVia, startSync, type SyncProc } from "../helpers/sync.js";

const dirs: string[] = [];
afterEach(async () => {
  await cleanupSyncs();
  await cleanupAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const APP = (tag: string) => `console.log("app READY ${tag}"); setInterval(() => {}, 1e9);\n`;

/** pidone (PID 1) running REMOTE/app.js, and `pidone sync` watching LOCAL, in sync. */
async function setUp() {
  const base = mkdtempSync(path.join(tmpdir(), "pidone-sync-batching-"));
  dirs.push(base);
  const local = path.join(base, "local");
  const remote = path.join(base, "remote");
  mkdirSync(local);
  mkdirSync(remote);
  for (const d of [local, remote]) writeFileSync(path.join(d, "app.js"), APP("v0"));
  const p = startPidone({ args: ["--", process.execPath, path.join(remote, "app.js")] });
  await p.waitForStdout(/app READY v0/);
  await p.waitForEvent("ready");
  const s = startSync([local, remote, ...localVia(p.socket)]);
  await s.waitFor("in-sync");
  return { local, remote, p, s };
}

const controlRestarts = (p: Pidone) => p.all("restart").filter((e) => e.source === "control").length;

/** Write a marker file once everything before it has been sent, and wait for its batch: any
 *  batch still owed for earlier changes comes before it (or shows in its file count). Returns the
 *  batches (`synced` events) before the marker's. */
async function batchesBeforeMarker(s: SyncProc, local: string): Promise<Record<string, unknown>[]> {
  const before = s.all("synced").length;
  writeFileSync(path.join(local, "marker.txt"), "m");
  const marker = await s.until(() => s.all("synced").slice(before).find((e) => e.files === 1 && e.bytes === 1), "the marker's batch");
  const all = s.all("synced");
  return all.slice(0, all.indexOf(marker));
}

// Writes argv[2]/f000..f499 (each in its own directory of 50, as a checkout does); argv[3] "gaps":
// waits 1-5 ms between files (Atomics.wait: a real pause without a timer's slack).
const WRITER = `
const fs = require("node:fs"), path = require("node:path");
const [root, mode] = process.argv.slice(1);
const cell = new Int32Array(new SharedArrayBuffer(4));
let last = performance.now(), maxGap = 0;
for (let i = 0; i < 500; i++) {
  const dir = path.join(root, "src", "d" + Math.floor(i / 50));
  if (i % 50 === 0) fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "f" + String(i).padStart(3, "0") + ".py"), "X = " + i + "\\n");
  if (mode === "gaps") Atomics.wait(cell, 0, 0, 1 + (i % 5));
  const t = performance.now();
  maxGap = Math.max(maxGap, t - last);
  last = t;
}
process.stdout.write(JSON.stringify({ maxGapMs: maxGap }));
`;

describe("pidone sync batching (default)", () => {
  it("a save is one batch and one restart", async () => {
    const { local, p, s } = await setUp();
    const restarts0 = controlRestarts(p);
    const synced0 = s.all("synced").length;
    writeFileSync(path.join(local, "app.js"), APP("v1"));
    const b = await s.waitFor("synced", synced0 + 1);
    expect(b).toMatchObject({ files: 1, restart: { kind: "up" } });
    await p.waitForStdout(/app READY v1/);
    const before = await batchesBeforeMarker(s, local);
    expect(before.slice(synced0), s.stdout).toHaveLength(1);
    // The save's restart and the marker's.
    await p.waitForEvent("restart", (e) => e.source === "control", 10_000, restarts0 + 2);
    expect(controlRestarts(p) - restarts0, p.output()).toBe(2);
  });

  it.each([
    ["in a tight loop", "loop"],
    ["with gaps of 1-5 ms", "gaps"],
  ])("500 files written %s give at most two batches, each one restart, and all arrive", async (_what, mode) => {
    const { local, remote, p, s } = await setUp();
    const restarts0 = controlRestarts(p);
    const synced0 = s.all("synced").length;
    const w = await run(process.execPath, ["-e", WRITER, local, mode], { env: cleanEnv() as Record<string, string>, timeoutMs: 30_000 });
    expect(w.code, w.stderr).toBe(0);
    const sent = () => s.all("synced").slice(synced0).reduce((n, e) => n + Number(e.files), 0);
    await s.until(() => sent() >= 500 || undefined, "the 500 files sent", 30_000);
    const burst = (await batchesBeforeMarker(s, local)).slice(synced0);
    expect(burst.length, JSON.stringify(burst)).toBeGreaterThanOrEqual(1);
    // The promise holds for a burst whose gaps stay under the 50 ms window. A writer that was
    // itself descheduled for longer (a loaded machine) may rightly give more batches: then only
    // the rest is checked.
    const { maxGapMs } = JSON.parse(w.stdout) as { maxGapMs: number };
    if (maxGapMs < 25) expect(burst.length, `${JSON.stringify(burst)} (writer's longest gap ${maxGapMs.toFixed(1)} ms)`).toBeLessThanOrEqual(2);
    for (const b of burst) expect(b.restart, JSON.stringify(b)).toMatchObject({ kind: "up" });
    await p.waitForEvent("restart", (e) => e.source === "control", 10_000, restarts0 + burst.length + 1);
    expect(controlRestarts(p) - restarts0, p.output()).toBe(burst.length + 1);
    const files = readdirSync(path.join(remote, "src")).flatMap((d) => readdirSync(path.join(remote, "src", d)));
    expect(files).toHaveLength(500);
  });
});
