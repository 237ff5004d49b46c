// Sending one batch over a connection: its operations in the receiver's order, each file read from
// one open descriptor in CHUNK pieces, then the commit, the receiver's `applied` and the restart's
// outcome (with a crash's tail). Portable.
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import path from "node:path";
import { wallNow } from "./change-queue.js";
import { applyToModel, orderOps, type Op } from "./plan.js";
import { CHUNK } from "./protocol.js";
import { formatReport, type BatchReport, type Reporter } from "./report.js";
import { noEntry, type Entry } from "./tree.js";
import type { Connection } from "./transport.js";
import type { UnreadablePaths } from "./unreadable.js";

/** The receiver's restart waits this long for the new generation. */
const RESULT_TIMEOUT_MS = 0; // unbounded: the receiver's own restart timeout bounds it

/** One batch to send: `local` holds the entries its ops were planned from; `seenAt`, when
 *  its first change was seen (`wallNow`), for the `applied` event. */
export interface OutgoingBatch {
  id: number;
  why: string;
  ops: Op[];
  local: ReadonlyMap<string, Entry>;
  seenAt?: number;
}

/** What sending needs besides the connection. */
export interface BatchSender {
  root: string;
  /** Ask the receiver for a restart after a batch that changed something. */
  restart: boolean;
  reporter: Reporter;
  unreadable: UnreadablePaths;
  /** A file changed while it was read: look at it again in the next batch. */
  again: (rel: string) => void;
}

/** Send one batch, wait for it to be applied and for the restart's outcome, report it. `model`
 *  (the remote tree) is updated once the receiver has applied it. */
export async function sendBatch(conn: Connection, model: Map<string, Entry>, batch: OutgoingBatch, s: BatchSender): Promise<BatchReport> {
  const { id, why, local } = batch;
  const ops = orderOps(batch.ops);
  const t0 = performance.now();
  const takenAt = wallNow();
  const sent = new Map<string, Entry>();
  const done: Op[] = [];
  // What the app printed after the last batch ends here.
  s.reporter.flushOutput();
  await conn.send({ t: "begin", id });
  for (const op of ops) {
    if (op.t === "file") {
      const e = await sendFile(conn, op.path, s);
      if (e === null) continue; // gone (the watcher reports its deletion) or unreadable since the scan
      sent.set(op.path, e);
    } else {
      if (op.t === "symlink") sent.set(op.path, local.get(op.path) as Entry);
      await conn.send(op);
    }
    done.push(op);
  }
  // Every file vanished since the scan: commit the empty batch, but restart nothing.
  await conn.send({ t: "commit", id, restart: s.restart && done.length > 0 });
  const committedAt = wallNow();
  const applied = await conn.expect("applied");
  const applyMs = Math.round(performance.now() - t0);
  applyToModel(model, done, sent);
  // The stamps time the loop's parts (bench/sync.mjs): seen -> taken is the batching wait,
  // taken -> committed the sending, committed -> applied the receiver's apply and the way back.
  const stamps = { seenAt: batch.seenAt ?? takenAt, takenAt, committedAt, appliedAt: wallNow(), receiverMs: applied.ms };
  s.reporter.event("applied", { id, why, files: applied.files, bytes: applied.bytes, ms: applyMs, ...stamps }, "");
  const result = await conn.expect("result", RESULT_TIMEOUT_MS);
  const report: BatchReport = { files: applied.files, bytes: applied.bytes, deletes: done.filter((x) => x.t === "delete").length, applyMs, restart: result.restart };
  s.reporter.event("synced", { id, why, ...report }, formatReport(report));
  s.reporter.restart(id, result.restart);
  return report;
}

/** Send one file from an open descriptor in CHUNK pieces; the size and mode sent are the
 *  descriptor's, so what arrives is one consistent version. Returns what was sent. */
async function sendFile(conn: Connection, rel: string, s: BatchSender): Promise<Entry | null> {
  let fd: number;
  try {
    // Never through a link: one made since the scan is the watcher's to report.
    fd = openSync(path.join(s.root, rel), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    if (noEntry(err)) return null;
    s.unreadable.cannotRead(rel, err as NodeJS.ErrnoException);
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return null;
    const e: Entry = { kind: "f", size: st.size, exec: process.platform !== "win32" && (st.mode & 0o100) !== 0, mtimeMs: Math.floor(st.mtimeMs) };
    let off = 0;
    let first = true;
    do {
      const want = Math.min(CHUNK, e.size - off);
      const buf = Buffer.alloc(want);
      let got = 0;
      while (got < want) {
        const n = readSync(fd, buf, got, want - got, off + got);
        if (n === 0) break; // shrank while read: zeros fill the rest, and the watcher brings the new version
        got += n;
      }
      if (got < want) s.again(rel);
      if (first) await conn.send({ t: "file", path: rel, size: e.size, exec: e.exec, mtimeMs: e.mtimeMs }, buf);
      else await conn.send({ t: "chunk" }, buf);
      first = false;
      off += want;
    } while (off < e.size);
    return e;
  } finally {
    closeSync(fd);
  }
}
