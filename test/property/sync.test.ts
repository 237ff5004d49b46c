// Property: whatever sequence of creates, edits, renames, deletes, mode changes, type changes
// and symlinks happens in LOCAL_DIR, after each settled batch REMOTE_DIR holds the same tree
// (paths, contents, executable bits, link targets), and pidone restarted the app exactly once
// per batch. Real processes end to end: pidone as PID 1, `pidone sync` watching, `pidone
// receive` through a local transport prefix. Bounded: a few runs of a few steps (SYNC_RUNS=50
// for a longer hunt; SYNC_SEED/SYNC_PATH replay a failure).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { cleanupAll, startPidone, type Pidone } from "../helpers/pidone.js";
import { cleanupSyncs, localVia, snapshot, startSync } from "../helpers/sync.js";
import { escapes } from "../../src/sync/protocol.js";

const FILES = ["a", "b.py", "d1/c", "d1/d2/e", "d3/f", "t", "t/in"];
const DIRS = ["d1", "d3", "e1", "d1/e2", "t"];

type Op =
  | { k: "write"; p: string; body: string }
  | { k: "rename"; from: string; to: string }
  | { k: "delete"; p: string }
  | { k: "chmod"; p: string; exec: boolean }
  | { k: "symlink"; p: string; target: string }
  | { k: "mkdir"; p: string };

const anyPath = fc.constantFrom(...FILES, ...DIRS);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant("write" as const), p: fc.constantFrom(...FILES), body: fc.string({ maxLength: 40 }) }),
  fc.record({ k: fc.constant("rename" as const), from: anyPath, to: fc.constantFrom(...FILES) }),
  fc.record({ k: fc.constant("delete" as const), p: anyPath }),
  fc.record({ k: fc.constant("chmod" as const), p: fc.constantFrom(...FILES), exec: fc.boolean() }),
  fc.record({ k: fc.constant("symlink" as const), p: fc.constantFrom(...FILES), target: fc.constantFrom("a", "d1", "nowhere", "d1/c") }),
  fc.record({ k: fc.constant("mkdir" as const), p: fc.constantFrom(...DIRS) }),
);

const kind = (abs: string) => {
  try {
    const st = lstatSync(abs);
    return st.isSymbolicLink() ? "l" : st.isDirectory() ? "d" : "f";
  } catch {
    return null;
  }
};

/** Make room for `rel` as a new entry: parents become directories, whatever is at `rel` goes. */
function room(root: string, rel: string): void {
  const parts = rel.split("/");
  for (let i = 1; i < parts.length; i++) {
    const dir = path.join(root, ...parts.slice(0, i));
    if (kind(dir) !== "d") {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
    }
  }
  rmSync(path.join(root, rel), { recursive: true, force: true });
}

function apply(root: string, o: Op): void {
  const abs = (p: string) => path.join(root, p);
  switch (o.k) {
    case "write":
      if (kind(abs(o.p)) !== "f") room(root, o.p);
      writeFileSync(abs(o.p), o.body);
      break;
    case "rename":
      if (o.from === o.to || kind(abs(o.from)) === null || o.to.startsWith(`${o.from}/`)) return;
      room(root, o.to);
      if (kind(abs(o.from)) !== null) renameSync(abs(o.from), abs(o.to));
      break;
    case "delete":
      // Nothing there (a parent may be a file: rmSync's force covers ENOENT, not ENOTDIR).
      if (kind(abs(o.p)) !== null) rmSync(abs(o.p), { recursive: true, force: true });
      break;
    case "chmod":
      if (kind(abs(o.p)) === "f") chmodSync(abs(o.p), o.exec ? 0o755 : 0o644);
      break;
    case "symlink": {
      room(root, o.p);
      // Relative to the link's directory, so it stays inside the tree.
      const depth = o.p.split("/").length - 1;
      symlinkSync(`${"../".repeat(depth)}${o.target}`, abs(o.p));
      break;
    }
    case "mkdir":
      if (kind(abs(o.p)) !== "d") {
        room(root, o.p);
        mkdirSync(abs(o.p));
      }
      break;
  }
}

/** LOCAL_DIR as pidone sync carries it: a link moved to where its target leaves the tree is not sent. */
function synced(local: string): Record<string, string> {
  const tree = snapshot(local);
  for (const [rel, v] of Object.entries(tree)) if (v.startsWith("link ") && escapes(rel, v.slice(5))) delete tree[rel];
  return tree;
}

let p: Pidone;
const base = mkdtempSync(path.join(tmpdir(), "pidone-syncprop-"));
beforeAll(async () => {
  p = startPidone({ args: ["--", "sleep", "1000000"] });
  await p.waitForEvent("ready");
});
afterAll(async () => {
  await cleanupSyncs();
  await cleanupAll();
  rmSync(base, { recursive: true, force: true });
});

const controlRestarts = () => p.all("restart").filter((e) => e.source === "control").length;
let runNo = 0;

describe("pidone sync keeps REMOTE_DIR equal to LOCAL_DIR", () => {
  it("after every settled batch, with one restart per batch", async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 }), async (steps) => {
      const dir = path.join(base, `run${++runNo}`);
      const local = path.join(dir, "local");
      const remote = path.join(dir, "remote");
      mkdirSync(local, { recursive: true });
      mkdirSync(remote);
      const s = startSync([local, remote, ...localVia(p.socket)]);
      try {
        await s.waitFor("in-sync");
        const restarts0 = controlRestarts();
        let stamp = 0;
        for (const step of steps) {
          for (const o of step) apply(local, o);
          // Every step changes something, so every step ends in at least one batch.
          writeFileSync(path.join(local, "stamp"), String(++stamp));
          const want = synced(local);
          await s.until(() => {
            const done = s.all("synced").length >= stamp && JSON.stringify(snapshot(remote)) === JSON.stringify(want);
            return done;
          }, `REMOTE_DIR equal to LOCAL_DIR after step ${stamp}: ${JSON.stringify(step)}\nlocal: ${JSON.stringify(want)}`, 15_000).catch((err: Error) => {
            throw new Error(`${err.message}\nremote: ${JSON.stringify(snapshot(remote))}\n${p.output().slice(-3000)}`);
          });
        }
        const batches = s.all("synced");
        for (const b of batches) expect(b.restart, JSON.stringify(b)).toMatchObject({ kind: "up" });
        await p.waitForEvent("restart", (e) => e.source === "control", 10_000, restarts0 + batches.length);
        expect(controlRestarts() - restarts0, `${batches.length} batches\n${s.output()}`).toBe(batches.length);
        expect(existsSync(remote) && snapshot(remote)).toEqual(synced(local));
      } finally {
        s.kill();
        await s.exited;
      }
    }), { numRuns: Number(process.env.SYNC_RUNS ?? 6), endOnFailure: true, ...(process.env.SYNC_SEED ? { seed: Number(process.env.SYNC_SEED), path: process.env.SYNC_PATH } : {}) });
  }, 30_000 * Number(process.env.SYNC_RUNS ?? 6));
});
