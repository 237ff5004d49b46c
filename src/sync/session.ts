// The sender's session with one receiver: runs the work of each state of session-state.ts
// (connect and read the receiver's tree, reconcile, send each settled batch, wait out a backoff)
// and moves on by its transitions. A lost transport or a refusal becomes the event `lost`;
// anything else is a bug and is thrown. Portable.
import path from "node:path";
import { sendBatch, type BatchSender } from "./batch-send.js";
import type { ChangeQueue } from "./change-queue.js";
import { SKIP_DIRS } from "./ignore-rules.js";
import type { LocalTree } from "./local-tree.js";
import type { Ownership } from "./ownership.js";
import { changePlan, reconcilePlan } from "./plan.js";
import { PROTOCOL_VERSION, TREE_CHUNK, type ReceiverNotice } from "./protocol.js";
import { pathMapper } from "./path-map.js";
import type { BatchReport, Reporter } from "./report.js";
import { connected, initialSession, lost, reconciled, retry, type SessionEnd, type SessionState } from "./session-state.js";
import { Connection, RemoteError, TransportError } from "./transport.js";
import { hashFile, type Entry } from "./tree.js";
import type { UnreadablePaths } from "./unreadable.js";

const CONNECT_TIMEOUT_MS = 60_000;

/** What a session needs: how to reach its receiver, and the sender's shared parts. */
export interface SessionOptions {
  /** `PREFIX REMOTE_COMMAND receive REMOTE_DIR`, split into argv. */
  transport: string[];
  remoteDir: string;
  /** LOCAL_DIR as the user typed it: the app's output names files under it. */
  localDir: string;
  once: boolean;
  skip: (rel: string, isDir: boolean) => boolean;
  reporter: Reporter;
  local: LocalTree;
  unreadable: UnreadablePaths;
  ownership: Ownership;
  changes: ChangeQueue;
  batches: BatchSender;
  nextBatchId: () => number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run a session until it closes (only with --once: otherwise it runs until the process ends). */
export async function runSession(o: SessionOptions): Promise<SessionEnd> {
  let s = initialSession();
  for (;;) {
    try {
      s = await step(s, o);
    } catch (err) {
      if (s.kind === "reconciling" || s.kind === "live") s.conn.kill();
      if (!(err instanceof TransportError || err instanceof RemoteError)) throw err;
      const refused = err instanceof RemoteError;
      o.reporter.event("disconnected", { error: err.message, refused }, `${refused ? "the receiver refused: " : "transport lost: "}${err.message}`);
      s = lost(s, refused, o.once);
      if (s.kind === "backoff") o.reporter.event("reconnecting", { inMs: s.delayMs }, `reconnecting in ${s.delayMs} ms`);
    }
    if (s.kind === "closed") return s.end;
  }
}

/** The work of state `s`; resolves with the state after it, throws when the transport is lost. */
async function step(s: SessionState, o: SessionOptions): Promise<SessionState> {
  switch (s.kind) {
    case "connecting": {
      const conn = open(o);
      try {
        return connected(conn, await handshake(conn, o));
      } catch (err) {
        conn.kill();
        throw err;
      }
    }
    case "reconciling": {
      const next = reconciled(s, await reconcile(s.conn, s.model, o), o.once);
      if (next.kind === "closed") {
        s.conn.end();
        await s.conn.closed;
      }
      return next;
    }
    case "live":
      await sendSettled(s.conn, s.model, o);
      return s;
    case "backoff":
      await sleep(s.delayMs);
      return retry(s);
    case "closed":
      return s;
  }
}

function open(o: SessionOptions): Connection {
  return new Connection(o.transport, (line) => o.reporter.warn(`remote: ${line}`), (m) => notice(m, o));
}

/** What the receiver reports between answers: the app's output, and a later crash. */
function notice(m: ReceiverNotice, o: SessionOptions): void {
  switch (m.t) {
    case "output":
      return o.reporter.output(m.id, m.data);
    case "skipped":
      return o.reporter.skipped(m.id, m.bytes);
    case "crashed":
      return o.reporter.event("crashed", { id: m.id, pid: m.pid, status: m.status }, `the app started by batch ${m.id} (pid ${m.pid}) ended (${m.status}); its output is above: fix and save`);
  }
}

/** hello both ways, then the receiver's tree. */
async function handshake(conn: Connection, o: SessionOptions): Promise<Map<string, Entry>> {
  await conn.send({ t: "hello", v: PROTOCOL_VERSION, skip: SKIP_DIRS });
  const hello = await Promise.race([conn.expect("hello", CONNECT_TIMEOUT_MS), conn.closed.then((e) => Promise.reject(e))]);
  if (hello.v !== PROTOCOL_VERSION) throw new RemoteError(`the receiver speaks protocol ${hello.v}, this pidone ${PROTOCOL_VERSION} (install the same pidone version on both ends)`);
  // The app names its files by REMOTE_DIR as given, or by its real path when that is a link.
  o.reporter.mapOutputPaths(pathMapper([o.remoteDir, hello.root], o.localDir));
  const model = new Map<string, Entry>();
  for (;;) {
    const m = await conn.next(CONNECT_TIMEOUT_MS);
    if (m.t === "tree-end") break;
    if (m.t !== "tree") throw new TransportError(`expected the receiver's tree, got '${m.t}'`);
    for (const [p, kind, size, exec, mtimeMs, target] of m.entries) {
      // What LOCAL_DIR ignores is neither compared nor deleted on the remote side.
      if (o.skip(p, kind === "d")) continue;
      model.set(p, { kind, size, exec: exec === 1, mtimeMs, ...(target === undefined ? {} : { target }) });
    }
  }
  o.reporter.event("connected", { remote: hello.root, entries: model.size }, `connected to ${o.remoteDir} (${model.size} entries there)`);
  return model;
}

/** Compare the trees and send what differs, as one batch. */
async function reconcile(conn: Connection, model: Map<string, Entry>, o: SessionOptions): Promise<BatchReport | null> {
  // Everything the watcher reported so far is covered by this scan.
  o.changes.clear();
  const t0 = performance.now();
  const local = o.local.scan();
  const plan = reconcilePlan(local, model, (p) => o.ownership.owns(model, p));
  for (let i = 0; i < plan.hash.length; i += TREE_CHUNK) {
    const paths = plan.hash.slice(i, i + TREE_CHUNK);
    await conn.send({ t: "hash", paths });
    const { hashes } = await conn.expect("hashes");
    const remote = new Map(hashes);
    for (const p of paths) {
      const l = local.get(p) as Entry;
      const hash = o.unreadable.tryRead(p, () => hashFile(path.join(o.local.root, p)));
      if (hash === undefined) continue;
      if (remote.get(p) !== hash) plan.ops.push({ t: "file", path: p });
      else if (model.get(p)?.exec !== l.exec) plan.ops.push({ t: "chmod", path: p, exec: l.exec });
    }
  }
  let report: BatchReport | null = null;
  if (plan.ops.length === 0) o.reporter.event("in-sync", { entries: local.size, ms: Math.round(performance.now() - t0) }, `${o.remoteDir} is in sync (${local.size} entries compared in ${Math.round(performance.now() - t0)} ms); nothing to send`);
  else report = await sendBatch(conn, model, { id: o.nextBatchId(), why: "reconcile", ops: plan.ops, local }, o.batches);
  o.ownership.reset(local.keys());
  return report;
}

/** Wait for the watched changes to settle, then send them as one batch. */
async function sendSettled(conn: Connection, model: Map<string, Entry>, o: SessionOptions): Promise<void> {
  await Promise.race([o.changes.settled(), conn.closed.then((e) => Promise.reject(e))]);
  const seenAt = o.changes.seenAt ?? undefined;
  const changed = o.changes.take();
  const local = o.local.read(changed);
  // What cannot be read is not known to be gone: never a delete.
  const known = changed.filter((p) => !o.unreadable.unknown(p));
  const ops = changePlan(known, local, model, (p) => o.ownership.owns(model, p));
  try {
    if (ops.length > 0) await sendBatch(conn, model, { id: o.nextBatchId(), why: "watch", ops, local, seenAt }, o.batches);
  } catch (err) {
    // Not acknowledged: the reconcile after reconnecting covers these paths again.
    o.changes.again(changed);
    throw err;
  }
  o.ownership.see(changed, local);
}
