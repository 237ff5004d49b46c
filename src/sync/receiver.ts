// `pidone receive REMOTE_DIR`: the container's end of `pidone sync`, spoken to over stdin/stdout
// through whatever transport the sender ran (kubectl exec, docker exec, ssh). Every path stays
// inside REMOTE_DIR and nothing is written through a symlink; a batch is staged as temporary files
// beside their targets, validated whole, and only then renamed into place, so the app never reads
// half a file and a bad stream leaves REMOTE_DIR as it was. Then pidone is asked for a restart.
import {
  closeSync, constants, fchmodSync, fstatSync, futimesSync, lstatSync, mkdirSync, openSync, realpathSync,
  renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeSync,
} from "node:fs";
import path from "node:path";
import {
  CHUNK, MAX_BATCH_OPS, PROTOCOL_VERSION, ProtocolError, TREE_CHUNK, decodeSenderMessage, encodeFrame, readFrames,
  type RestartOutcome, type WireEntry,
} from "./protocol.js";
import { hashFile, isGone, noEntry, scanTree } from "./tree.js";
import { SKIP_DIRS } from "./ignore-rules.js";
import { RECEIVE_EXIT } from "../exit-code.js";

/** What `pidone receive` needs besides its stream. */
export interface ReceiveOptions {
  remoteDir: string;
  /** Ask for a restart after a batch (when the sender asks for one): how. */
  restart: (timeoutMs: number) => Promise<RestartOutcome>;
  /** Follow the generation a batch started; resolves with its exit status if it dies. */
  watchAfter: (pid: number, stop: AbortSignal) => Promise<string | null>;
  restartTimeoutMs: number;
  input: AsyncIterable<Buffer> & { destroy(): void };
  write: (frame: Buffer) => void;
  warn: (line: string) => void;
}

const TEMP_PREFIX = ".pidone-sync-";
// O_NOFOLLOW on the final component, O_EXCL so a planted file or link at the temp name fails the
// open instead of being written through.
const O_TEMP = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
let tempCounter = 0;

/** A file or symlink complete in its temporary name, waiting for the commit. */
interface Staged {
  rel: string;
  temp: string;
}

/** A file being received: its temporary file and how many bytes are still to come. */
interface OpenFile {
  rel: string;
  temp: string;
  fd: number;
  remaining: number;
  exec: boolean;
  mtimeMs: number;
}

/** One batch between `begin` and `commit`: everything staged, nothing in place yet. */
class Batch {
  readonly staged: Staged[] = [];
  readonly deletes: string[] = [];
  readonly mkdirs: string[] = [];
  readonly chmods: { rel: string; exec: boolean }[] = [];
  /** Paths this batch deletes or (re)creates as directories: a non-directory there is replaced. */
  readonly replaced = new Set<string>();
  open: OpenFile | null = null;
  ops = 0;
  files = 0;
  bytes = 0;
  readonly startedAt = performance.now();

  constructor(readonly id: number, private root: string) {}

  count(): void {
    if (++this.ops > MAX_BATCH_OPS) throw new ProtocolError(`batch has more than ${MAX_BATCH_OPS} operations`);
  }

  /** Remove every temporary file of this batch. */
  abort(): void {
    if (this.open) {
      try {
        closeSync(this.open.fd);
      } catch {
        // already closed
      }
      unlinkQuiet(this.open.temp);
      this.open = null;
    }
    for (const s of this.staged) unlinkQuiet(s.temp);
    this.staged.length = 0;
  }

  abs(rel: string): string {
    return path.join(this.root, ...rel.split("/"));
  }
}

function unlinkQuiet(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // gone already
  }
}

/** The deepest existing real directory above `rel` that this batch keeps, checking every
 *  component with lstat: a symlink (or a file) on the way is refused unless the batch replaces
 *  it. Components below the returned one are created at commit. */
function stageDir(root: string, rel: string, replaced: ReadonlySet<string>): string {
  const parts = rel.split("/").slice(0, -1);
  let dir = root;
  for (let i = 0; i < parts.length; i++) {
    const sub = parts.slice(0, i + 1).join("/");
    if (replaced.has(sub)) return dir;
    const next = path.join(dir, parts[i] as string);
    let st;
    try {
      st = lstatSync(next);
    } catch (err) {
      if (isGone(err)) return dir;
      throw err;
    }
    if (st.isSymbolicLink()) throw new ProtocolError(`'${rel}' goes through the symlink '${sub}': refused`);
    if (!st.isDirectory()) throw new ProtocolError(`'${rel}': '${sub}' is not a directory`);
    dir = next;
  }
  return dir;
}

/** At commit: make the parents of `rel` real directories, creating what is missing, refusing a
 *  symlink (a tree can change under us between staging and commit). */
function ensureParents(root: string, rel: string): void {
  const parts = rel.split("/").slice(0, -1);
  let dir = root;
  for (const part of parts) {
    dir = path.join(dir, part);
    let st;
    try {
      st = lstatSync(dir);
    } catch (err) {
      if (!isGone(err)) throw err;
      mkdirSync(dir, 0o755);
      continue;
    }
    if (st.isSymbolicLink() || !st.isDirectory()) throw new ProtocolError(`'${rel}': '${path.relative(root, dir)}' is not a directory (changed during the batch)`);
  }
}

/** lstat, or null when missing. */
function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch (err) {
    if (isGone(err)) return null;
    throw err;
  }
}

/** Make room at `abs` for something of another kind: remove a directory (recursively; rmSync
 *  lstats and never follows a link) or whatever else is there. */
function clear(abs: string): void {
  rmSync(abs, { recursive: true, force: true });
}

/** Apply a validated batch: deletes, then directories, then renames, then mode changes. */
function commit(b: Batch, root: string): void {
  for (const rel of b.deletes) {
    stageDir(root, rel, new Set()); // refuses a path through a symlink
    clear(b.abs(rel));
  }
  for (const rel of b.mkdirs) {
    ensureParents(root, rel);
    const abs = b.abs(rel);
    const st = lstatOrNull(abs);
    if (st && !st.isDirectory()) clear(abs);
    if (!st || !st.isDirectory()) mkdirSync(abs, 0o755);
  }
  for (const s of b.staged) {
    ensureParents(root, s.rel);
    const abs = b.abs(s.rel);
    const st = lstatOrNull(abs);
    if (st?.isDirectory()) clear(abs);
    // rename(2) replaces the name atomically and never follows a link at the target.
    renameSync(s.temp, abs);
  }
  b.staged.length = 0;
  for (const { rel, exec } of b.chmods) {
    stageDir(root, rel, new Set());
    let fd: number;
    try {
      fd = openSync(b.abs(rel), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    } catch (err) {
      if (noEntry(err)) continue;
      throw err;
    }
    try {
      const st = fstatSync(fd);
      if (st.isFile()) fchmodSync(fd, exec ? 0o755 : 0o644);
    } finally {
      closeSync(fd);
    }
  }
}

/** The receiver's tree, for the sender to compare with. Leftover temporaries of a receiver that
 *  was killed mid-batch are removed on the way. */
function listTree(root: string, skip: ReadonlySet<string>): WireEntry[] {
  const tree = scanTree(root, (rel) => {
    const name = rel.slice(rel.lastIndexOf("/") + 1);
    if (name.startsWith(TEMP_PREFIX)) {
      unlinkQuiet(path.join(root, rel));
      return true;
    }
    return skip.has(name);
  });
  return [...tree].map(([rel, e]) => (e.kind === "l" ? [rel, "l", 0, 0, 0, e.target] : [rel, e.kind, e.size, e.exec ? 1 : 0, e.mtimeMs]) as WireEntry);
}

/** Check REMOTE_DIR before reading the stream; returns its real path or a one-line reason. */
export function resolveRemoteDir(dir: string): { root: string } | { error: string } {
  try {
    const root = realpathSync(dir);
    if (!statSync(root).isDirectory()) return { error: `REMOTE_DIR '${dir}' is not a directory` };
    return { root };
  } catch (err) {
    return { error: `REMOTE_DIR '${dir}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (create it first, e.g. in the image)` };
  }
}

/** Serve one sender until its stream ends; returns the exit code. */
export async function receive(root: string, opts: ReceiveOptions): Promise<number> {
  const send = (msg: object) => opts.write(encodeFrame(msg));
  let batch: Batch | null = null;
  let greeted = false;
  // The watch over the last batch's generation; the next batch (or the end) ends it.
  let after: AbortController | null = null;
  try {
    for await (const frame of readFrames(opts.input)) {
      const msg = decodeSenderMessage(frame);
      if (!greeted) {
        if (msg.t !== "hello") throw new ProtocolError(`expected hello, got '${msg.t}'`);
        if (msg.v !== PROTOCOL_VERSION) throw new ProtocolError(`sender speaks protocol ${msg.v}, this pidone speaks ${PROTOCOL_VERSION} (install the same pidone version on both ends)`);
        greeted = true;
        send({ t: "hello", v: PROTOCOL_VERSION, root });
        const entries = listTree(root, new Set([...SKIP_DIRS, ...msg.skip]));
        for (let i = 0; i < entries.length; i += TREE_CHUNK) send({ t: "tree", entries: entries.slice(i, i + TREE_CHUNK) });
        send({ t: "tree-end" });
        continue;
      }
      if (batch === null) {
        if (msg.t === "hash") {
          send({ t: "hashes", hashes: msg.paths.map((p) => [p, hashOne(root, p)]) });
        } else if (msg.t === "begin") {
          after?.abort();
          batch = new Batch(msg.id, root);
        } else {
          throw new ProtocolError(`'${msg.t}' frame outside a batch`);
        }
        continue;
      }
      const b: Batch = batch;
      if (b.open && msg.t !== "chunk") throw new ProtocolError(`file '${b.open.rel}' is short by ${b.open.remaining} bytes`);
      switch (msg.t) {
        case "file": {
          b.count();
          const dir = stageDir(root, msg.path, b.replaced);
          const temp = path.join(dir, `${TEMP_PREFIX}${process.pid}-${++tempCounter}.tmp`);
          const fd = openSync(temp, O_TEMP, 0o600);
          b.open = { rel: msg.path, temp, fd, remaining: msg.size, exec: msg.exec, mtimeMs: msg.mtimeMs };
          b.bytes += msg.size;
          b.files++;
          writeChunk(b, msg.data);
          break;
        }
        case "chunk":
          if (!b.open) throw new ProtocolError("chunk without a file");
          if (msg.data.length > b.open.remaining) throw new ProtocolError(`file '${b.open.rel}': more data than its size`);
          writeChunk(b, msg.data);
          break;
        case "symlink": {
          b.count();
          const dir = stageDir(root, msg.path, b.replaced);
          const temp = path.join(dir, `${TEMP_PREFIX}${process.pid}-${++tempCounter}.tmp`);
          symlinkSync(msg.target, temp); // fails with EEXIST rather than replacing anything
          b.staged.push({ rel: msg.path, temp });
          b.files++;
          break;
        }
        case "mkdir":
          b.count();
          stageDir(root, msg.path, b.replaced);
          b.mkdirs.push(msg.path);
          b.replaced.add(msg.path);
          break;
        case "delete":
          b.count();
          stageDir(root, msg.path, b.replaced);
          b.deletes.push(msg.path);
          b.replaced.add(msg.path);
          break;
        case "chmod":
          b.count();
          stageDir(root, msg.path, b.replaced);
          b.chmods.push({ rel: msg.path, exec: msg.exec });
          break;
        case "commit": {
          if (msg.id !== b.id) throw new ProtocolError(`commit of batch ${msg.id} inside batch ${b.id}`);
          commit(b, root);
          batch = null;
          send({ t: "applied", id: b.id, files: b.files, bytes: b.bytes, ms: Math.round(performance.now() - b.startedAt) });
          const restart: RestartOutcome = msg.restart ? await opts.restart(opts.restartTimeoutMs) : { kind: "skipped" };
          send({ t: "result", id: b.id, restart });
          if (restart.kind === "up") {
            const ctl = new AbortController();
            after = ctl;
            const pid = restart.newPid;
            void opts.watchAfter(pid, ctl.signal).then((status) => {
              if (status !== null && !ctl.signal.aborted) {
                try {
                  send({ t: "crashed", id: b.id, pid, status });
                } catch {
                  // the sender is gone
                }
              }
            });
          }
          break;
        }
        default:
          throw new ProtocolError(`'${msg.t}' frame inside a batch`);
      }
    }
  } catch (err) {
    after?.abort();
    batch?.abort();
    const message = err instanceof ProtocolError ? err.message : `${(err as NodeJS.ErrnoException).code ?? "error"}: ${(err as Error).message}`;
    opts.warn(`pidone receive: ${message}; ${batch ? "batch discarded, REMOTE_DIR unchanged" : "stopped"}`);
    try {
      send({ t: "error", message });
    } catch {
      // the sender is gone
    }
    return RECEIVE_EXIT.refused;
  }
  after?.abort();
  if (batch) {
    batch.abort();
    opts.warn("pidone receive: the stream ended inside a batch; batch discarded, REMOTE_DIR unchanged");
    return RECEIVE_EXIT.interrupted;
  }
  return RECEIVE_EXIT.ok;
}

function writeChunk(b: Batch, data: Buffer): void {
  const f = b.open as OpenFile;
  for (let off = 0; off < data.length;) off += writeSync(f.fd, data, off, Math.min(CHUNK, data.length - off));
  f.remaining -= data.length;
  if (f.remaining > 0) return;
  // Mode and mtime on the descriptor, before the rename: the file appears complete, with the
  // sender's mtime (so the next reconcile finds it equal without hashing).
  fchmodSync(f.fd, f.exec ? 0o755 : 0o644);
  futimesSync(f.fd, f.mtimeMs / 1000, f.mtimeMs / 1000);
  closeSync(f.fd);
  b.staged.push({ rel: f.rel, temp: f.temp });
  b.open = null;
}

function hashOne(root: string, rel: string): string | null {
  try {
    stageDir(root, rel, new Set());
  } catch {
    return null;
  }
  return hashFile(path.join(root, ...rel.split("/")));
}
