// `pidone sync LOCAL_DIR REMOTE_DIR --via PREFIX`: the laptop's end. Connects through the
// transport, reconciles the two trees (only what differs is sent), then watches LOCAL_DIR and
// sends each settled batch; the receiver applies it atomically and restarts the app. When the
// transport dies it reconnects with backoff and reconciles again, so no local change is lost.
// The parts, one job each: local-watcher (chokidar and its workarounds), change-queue (batching),
// local-tree and unreadable (reading LOCAL_DIR), ownership (what may be deleted remotely),
// session-state and session (the connection's lifecycle), batch-send, report.
// Runs on macOS, Windows and Linux laptops: only portable Node APIs and src/sync/* (a unit test
// checks this module's import graph).
import path from "node:path";
import { ChangeQueue } from "./change-queue.js";
import { IgnoreRules } from "./ignore-rules.js";
import { LocalTree } from "./local-tree.js";
import { watchLocal } from "./local-watcher.js";
import { Ownership } from "./ownership.js";
import { Reporter } from "./report.js";
import { runSession } from "./session.js";
import { statEntry } from "./tree.js";
import { UnreadablePaths } from "./unreadable.js";
import { SYNC_EXIT } from "../exit-code.js";

/** `pidone sync`, judged at the edge (src/cli/program.ts). */
export interface SyncOptions {
  localDir: string;
  remoteDir: string;
  /** The transport prefix and the remote pidone, already split into argv. */
  via: string[];
  remoteCommand: string[];
  once: boolean;
  deleteExtra: boolean;
  restart: boolean;
  ignore: string[];
  /** `--debounce`: a fixed quiet time; null: the adaptive batching of change-queue.ts. */
  debounceMs: number | null;
  json: boolean;
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Run `pidone sync`; resolves with the exit code (only with --once: otherwise it runs until killed). */
export async function runSync(o: SyncOptions): Promise<number> {
  const root = path.resolve(o.localDir);
  const st = statEntry(root);
  if (!st || st.kind !== "d") {
    o.err(`pidone sync: LOCAL_DIR '${o.localDir}' is not a directory`);
    return SYNC_EXIT.usage;
  }
  const rules = new IgnoreRules(root, o.ignore);
  const skip = (rel: string, isDir: boolean): boolean => rules.ignores(rel, isDir);
  const reporter = new Reporter(o.json, o.out, o.err);
  const warn = (line: string) => reporter.warn(line);
  const unreadable = new UnreadablePaths(warn);
  const changes = new ChangeQueue(o.debounceMs === null ? { kind: "adaptive" } : { kind: "fixed", ms: o.debounceMs });
  if (!o.once) await watchLocal(root, rules, (rel) => changes.changed(rel), (err) => warn(`watching ${root}: ${err.message}`));
  let batchId = 0;
  const end = await runSession({
    transport: [...o.via, ...o.remoteCommand, "receive", o.remoteDir],
    remoteDir: o.remoteDir,
    localDir: o.localDir,
    once: o.once,
    skip,
    reporter,
    local: new LocalTree(root, skip, unreadable, warn),
    unreadable,
    ownership: new Ownership(o.deleteExtra, skip, unreadable),
    changes,
    batches: { root, restart: o.restart, reporter, unreadable, again: (rel) => changes.again([rel]) },
    nextBatchId: () => ++batchId,
  });
  return SYNC_EXIT[end];
}
