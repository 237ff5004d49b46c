// `pidone sync LOCAL_DIR REMOTE_DIR --via PREFIX`: the laptop's end. Connects through the
// transport, reconciles the two trees (only what differs is sent), then watches LOCAL_DIR and
// sends each settled batch; the receiver applies it atomically and restarts the app. When the
// transport dies it reconnects with backoff and reconciles again, so no local change is lost.
// Runs on macOS, Windows and Linux laptops: only portable Node APIs and src/sync/* (a unit test
// checks this module's import graph).
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import path from "node:path";
import { watch, type FSWatcher } from "chokidar";
import { IgnoreRules, SKIP_DIRS } from "./ignore-rules.js";
import { applyToModel, atOrBelow, changePlan, orderOps, reconcilePlan, type Op } from "./plan.js";
import { CHUNK, PROTOCOL_VERSION, TREE_CHUNK, escapes, type RestartOutcome } from "./protocol.js";
import { hashFile, noEntry, scanTree, statEntry, type Entry } from "./tree.js";
import { Connection, RemoteError, TransportError } from "./transport.js";
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
  debounceMs: number;
  json: boolean;
  out: (line: string) => void;
  err: (line: string) => void;
}

const CONNECT_TIMEOUT_MS = 60_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;
/** The receiver's restart waits this long for the new generation. */
const RESULT_TIMEOUT_MS = 0; // unbounded: the receiver's own restart timeout bounds it

/** What one batch did, for the report line. */
interface BatchReport {
  files: number;
  bytes: number;
  deletes: number;
  applyMs: number;
  restart: RestartOutcome;
}

/** Human form of a batch report: `synced 3 files (12 KB) in 40 ms; restarted pid 12 -> 19 in 5 ms; up after 310 ms`. */
export function formatReport(r: BatchReport): string {
  const what = [`${r.files} file${r.files === 1 ? "" : "s"} (${formatBytes(r.bytes)})`];
  if (r.deletes > 0) what.push(`${r.deletes} deletion${r.deletes === 1 ? "" : "s"}`);
  let line = `synced ${what.join(", ")} in ${r.applyMs} ms`;
  const x = r.restart;
  const pids = (o: number | null, n: number | null) => `pid ${o ?? "-"} -> ${n ?? "-"}`;
  if (x.kind === "up") line += `; restarted ${pids(x.oldPid, x.newPid)} in ${x.restartMs} ms; up after ${x.upMs} ms`;
  else if (x.kind === "crashed") line += `; restarted ${pids(x.oldPid, x.newPid)} in ${x.restartMs} ms; the new app CRASHED (${x.status}): fix and save, the next batch restarts it`;
  else if (x.kind === "failed") line += `; restart FAILED: ${x.error}`;
  else line += "; no restart asked";
  return line;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

const toRel = (root: string, abs: string) => path.relative(root, abs).split(path.sep).join("/");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run `pidone sync`; resolves with the exit code (only with --once: otherwise it runs until killed). */
export async function runSync(o: SyncOptions): Promise<number> {
  const root = path.resolve(o.localDir);
  const st = statEntry(root);
  if (!st || st.kind !== "d") {
    o.err(`pidone sync: LOCAL_DIR '${o.localDir}' is not a directory`);
    return SYNC_EXIT.usage;
  }
  return new Sender(root, o).run();
}

class Sender {
  private rules: IgnoreRules;
  /** Paths the watcher reported since the last batch was taken. */
  private pending = new Set<string>();
  private settled: (() => void) | null = null;
  private settleTimer: NodeJS.Timeout | null = null;
  private watcher: FSWatcher | null = null;
  private batchId = 0;
  private warnedLinks = new Set<string>();
  /** Paths LOCAL_DIR has had in this run (as of the last batch applied): a remote copy of one
   *  that LOCAL_DIR no longer has is a deletion to carry, not a remote-only file to leave alone. */
  private seen = new Set<string>();
  /** Paths LOCAL_DIR holds but this user cannot read (a directory it cannot list, an entry below
   *  one it cannot search): what is there is unknown, so nothing at or below them is deleted
   *  remotely. Warned once each; the rest of the tree syncs on. */
  private unreadable = new Set<string>();
  private warnedUnreadable = new Set<string>();

  constructor(private root: string, private o: SyncOptions) {
    this.rules = new IgnoreRules(root, o.ignore);
  }

  private skip = (rel: string, isDir: boolean): boolean => this.rules.ignores(rel, isDir);

  /** May the remote path `p`, which LOCAL_DIR lacks, be deleted? Never what LOCAL_DIR ignores,
   *  nor what may only look missing because it cannot be read. */
  private owned(model: ReadonlyMap<string, Entry>, p: string): boolean {
    return !this.skip(p, model.get(p)?.kind === "d") && (this.o.deleteExtra || this.seen.has(p)) && !this.unknown(p);
  }

  private cannotRead = (rel: string, err: NodeJS.ErrnoException): void => {
    // Below a directory already found unreadable: said with it.
    const said = this.unknown(rel);
    this.unreadable.add(rel);
    if (said || this.warnedUnreadable.has(rel)) return;
    this.warnedUnreadable.add(rel);
    this.o.err(`pidone sync: cannot read ${rel === "" ? "." : rel} in LOCAL_DIR (${err.code ?? err.message}): not sent, and its remote copy is left alone`);
  };

  /** fn(), or undefined when it could not read `rel` (said once, by cannotRead). */
  private tryRead<T>(rel: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.cannotRead(rel, err as NodeJS.ErrnoException);
      return undefined;
    }
  }

  /** Is `p`, or a directory above it (LOCAL_DIR itself: ""), unreadable? */
  private unknown(p: string): boolean {
    return this.unreadable.size > 0 && (this.unreadable.has("") || atOrBelow(p, this.unreadable));
  }

  private event(event: string, fields: Record<string, unknown>, human: string): void {
    if (!this.o.json && human === "") return;
    this.o.out(this.o.json ? JSON.stringify({ event, t: Date.now(), ...fields }) : `pidone sync: ${human}`);
  }

  async run(): Promise<number> {
    if (!this.o.once) await this.startWatcher();
    let backoff = BACKOFF_MIN_MS;
    for (;;) {
      const conn = new Connection(
        [...this.o.via, ...this.o.remoteCommand, "receive", this.o.remoteDir],
        (line) => this.o.err(`pidone sync: remote: ${line}`),
        (m) => this.event("crashed", { id: m.id, pid: m.pid, status: m.status }, `the app started by batch ${m.id} (pid ${m.pid}) CRASHED (${m.status}): fix and save, the next batch restarts it`),
      );
      try {
        const model = await this.handshake(conn);
        backoff = BACKOFF_MIN_MS;
        const first = await this.reconcile(conn, model);
        if (this.o.once) {
          conn.end();
          await conn.closed;
          return first === null || first.restart.kind === "up" || first.restart.kind === "skipped" ? SYNC_EXIT.ok : SYNC_EXIT.failed;
        }
        await this.watchLoop(conn, model);
      } catch (err) {
        conn.kill();
        if (!(err instanceof TransportError || err instanceof RemoteError)) throw err;
        const remote = err instanceof RemoteError;
        this.event("disconnected", { error: err.message, refused: remote }, `${remote ? "the receiver refused: " : "transport lost: "}${err.message}`);
        if (this.o.once) return remote ? SYNC_EXIT.failed : SYNC_EXIT.transport;
        this.event("reconnecting", { inMs: backoff }, `reconnecting in ${backoff} ms`);
        await sleep(backoff);
        backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
      }
    }
  }

  /** hello both ways, then the receiver's tree. */
  private async handshake(conn: Connection): Promise<Map<string, Entry>> {
    await conn.send({ t: "hello", v: PROTOCOL_VERSION, skip: SKIP_DIRS });
    const hello = await Promise.race([conn.expect("hello", CONNECT_TIMEOUT_MS), conn.closed.then((e) => Promise.reject(e))]);
    if (hello.v !== PROTOCOL_VERSION) throw new RemoteError(`the receiver speaks protocol ${hello.v}, this pidone ${PROTOCOL_VERSION} (install the same pidone version on both ends)`);
    const model = new Map<string, Entry>();
    for (;;) {
      const m = await conn.next(CONNECT_TIMEOUT_MS);
      if (m.t === "tree-end") break;
      if (m.t !== "tree") throw new TransportError(`expected the receiver's tree, got '${m.t}'`);
      for (const [p, kind, size, exec, mtimeMs, target] of m.entries) {
        // What LOCAL_DIR ignores is neither compared nor deleted on the remote side.
        if (this.skip(p, kind === "d")) continue;
        model.set(p, { kind, size, exec: exec === 1, mtimeMs, ...(target === undefined ? {} : { target }) });
      }
    }
    this.event("connected", { remote: hello.root, entries: model.size }, `connected to ${this.o.remoteDir} (${model.size} entries there)`);
    return model;
  }

  /** Compare the trees and send what differs, as one batch. */
  private async reconcile(conn: Connection, model: Map<string, Entry>): Promise<BatchReport | null> {
    // Everything the watcher reported so far is covered by this scan.
    this.pending.clear();
    const t0 = performance.now();
    this.unreadable.clear();
    const local = this.localTree(scanTree(this.root, this.skip, "", this.cannotRead));
    const plan = reconcilePlan(local, model, (p) => this.owned(model, p));
    for (let i = 0; i < plan.hash.length; i += TREE_CHUNK) {
      const paths = plan.hash.slice(i, i + TREE_CHUNK);
      await conn.send({ t: "hash", paths });
      const { hashes } = await conn.expect("hashes");
      const remote = new Map(hashes);
      for (const p of paths) {
        const l = local.get(p) as Entry;
        const hash = this.tryRead(p, () => hashFile(path.join(this.root, p)));
        if (hash === undefined) continue;
        if (remote.get(p) !== hash) plan.ops.push({ t: "file", path: p });
        else if (model.get(p)?.exec !== l.exec) plan.ops.push({ t: "chmod", path: p, exec: l.exec });
      }
    }
    let report: BatchReport | null = null;
    if (plan.ops.length === 0) this.event("in-sync", { entries: local.size, ms: Math.round(performance.now() - t0) }, `${this.o.remoteDir} is in sync (${local.size} entries compared in ${Math.round(performance.now() - t0)} ms); nothing to send`);
    else report = await this.sendBatch(conn, model, plan.ops, local, "reconcile");
    this.seen = new Set(local.keys());
    return report;
  }

  /** Drop symlinks that point out of LOCAL_DIR (warned once); they are never followed. */
  private localTree(tree: Map<string, Entry>): Map<string, Entry> {
    for (const [p, e] of tree) {
      if (e.kind !== "l") continue;
      const t = e.target as string;
      if (path.isAbsolute(t) || t.startsWith("/") || escapes(p, t.split(path.sep).join("/"))) {
        tree.delete(p);
        if (!this.warnedLinks.has(p)) {
          this.warnedLinks.add(p);
          this.o.err(`pidone sync: not syncing symlink ${p} -> ${t}: it points outside LOCAL_DIR`);
        }
      }
    }
    return tree;
  }

  private async watchLoop(conn: Connection, model: Map<string, Entry>): Promise<never> {
    for (;;) {
      await Promise.race([this.waitSettled(), conn.closed.then((e) => Promise.reject(e))]);
      // Parents first: what is found unreadable below an unreadable directory is said with it.
      const changed = [...this.pending].sort();
      this.pending.clear();
      const local = new Map<string, Entry>();
      const dirs = new Map<string, boolean>();
      for (const p of changed) {
        // The watcher can name a path through a symlink (a raw event from a watch set up on a
        // link to a directory): it is not an entry of the tree, and lstat would follow the link.
        if (!this.underRealDirs(p, dirs)) continue;
        // Read again now: what was unreadable at or below p may not be any more.
        for (const u of this.unreadable) if (u === p || u.startsWith(`${p}/`)) this.unreadable.delete(u);
        const e = this.tryRead(p, () => statEntry(path.join(this.root, p)));
        if (e === undefined || e === null || this.skip(p, e.kind === "d")) continue;
        local.set(p, e);
        if (e.kind === "d") for (const [q, f] of scanTree(this.root, this.skip, p, this.cannotRead)) local.set(q, f);
      }
      // What cannot be read is not known to be gone: never a delete.
      const known = changed.filter((p) => !this.unknown(p));
      const ops = changePlan(known, this.localTree(local), model, (p) => this.owned(model, p));
      try {
        if (ops.length > 0) await this.sendBatch(conn, model, ops, local, "watch");
      } catch (err) {
        // Not acknowledged: the reconcile after reconnecting covers these paths again.
        for (const p of changed) this.pending.add(p);
        throw err;
      }
      this.see(changed, local);
    }
  }

  /** Is every parent of `rel` a real directory (not a symlink)? `memo` holds the answers for
   *  directories already looked at in this batch. */
  private underRealDirs(rel: string, memo: Map<string, boolean>): boolean {
    for (let i = rel.indexOf("/"); i > 0; i = rel.indexOf("/", i + 1)) {
      const dir = rel.slice(0, i);
      let real = memo.get(dir);
      if (real === undefined) {
        real = this.tryRead(dir, () => statEntry(path.join(this.root, dir))?.kind === "d") ?? false;
        memo.set(dir, real);
      }
      if (!real) return false;
    }
    return true;
  }

  /** After a batch: what is at or below the changed paths now is `local`. */
  private see(changed: readonly string[], local: ReadonlyMap<string, Entry>): void {
    const at = new Set(changed);
    for (const p of this.seen) if (!local.has(p) && !this.unknown(p) && atOrBelow(p, at)) this.seen.delete(p);
    for (const p of local.keys()) this.seen.add(p);
  }

  /** Send one batch, wait for it to be applied and for the restart's outcome, report it. */
  private async sendBatch(conn: Connection, model: Map<string, Entry>, unordered: Op[], local: ReadonlyMap<string, Entry>, why: string): Promise<BatchReport> {
    const ops = orderOps(unordered);
    const id = ++this.batchId;
    const t0 = performance.now();
    const sent = new Map<string, Entry>();
    const done: Op[] = [];
    await conn.send({ t: "begin", id });
    for (const op of ops) {
      if (op.t === "file") {
        const e = await this.sendFile(conn, op.path);
        if (e === null) continue; // gone (the watcher reports its deletion) or unreadable since the scan
        sent.set(op.path, e);
      } else {
        if (op.t === "symlink") sent.set(op.path, local.get(op.path) as Entry);
        await conn.send(op);
      }
      done.push(op);
    }
    // Every file vanished since the scan: commit the empty batch, but restart nothing.
    await conn.send({ t: "commit", id, restart: this.o.restart && done.length > 0 });
    const applied = await conn.expect("applied");
    const applyMs = Math.round(performance.now() - t0);
    applyToModel(model, done, sent);
    this.event("applied", { id, why, files: applied.files, bytes: applied.bytes, ms: applyMs }, "");
    const result = await conn.expect("result", RESULT_TIMEOUT_MS);
    const report: BatchReport = { files: applied.files, bytes: applied.bytes, deletes: done.filter((x) => x.t === "delete").length, applyMs, restart: result.restart };
    this.event("synced", { id, why, ...report }, formatReport(report));
    return report;
  }

  /** Send one file from an open descriptor in CHUNK pieces; the size and mode sent are the
   *  descriptor's, so what arrives is one consistent version. Returns what was sent. */
  private async sendFile(conn: Connection, rel: string): Promise<Entry | null> {
    let fd: number;
    try {
      // Never through a link: one made since the scan is the watcher's to report.
      fd = openSync(path.join(this.root, rel), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    } catch (err) {
      if (noEntry(err)) return null;
      this.cannotRead(rel, err as NodeJS.ErrnoException);
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
        if (got < want) this.pending.add(rel);
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

  private waitSettled(): Promise<void> {
    if (this.pending.size > 0 && this.settleTimer === null) return Promise.resolve();
    return new Promise((r) => (this.settled = r));
  }

  /** A change: remember the path and (re)start the settle timer. */
  private changed(abs: string): void {
    const rel = toRel(this.root, abs);
    if (rel === "" || rel.startsWith("..")) return;
    if (rel === ".gitignore" || rel.endsWith("/.gitignore")) this.rules.forget(rel.slice(0, Math.max(0, rel.lastIndexOf("/"))));
    this.pending.add(rel);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      const r = this.settled;
      this.settled = null;
      r?.();
    }, this.o.debounceMs);
  }

  /** Close the watches on `dir` and every directory below it, then watch them again: they
   *  are set up on what is at those paths now. (unwatch alone would also ignore those paths from
   *  then on, and add clears that only for the paths it is given: hence every one of them;
   *  chokidar shares one fs.watch per path, so a second watcher would get the stale ones.) */
  private rewatch(w: FSWatcher, dir: string): void {
    const prefix = `${dir}${path.sep}`;
    const dirs = Object.keys(w.getWatched()).filter((d) => d === dir || d.startsWith(prefix));
    if (!dirs.includes(dir)) dirs.push(dir);
    w.unwatch(dirs);
    w.add(dirs.sort());
  }

  private isDir(abs: string): boolean {
    try {
      return statEntry(abs)?.kind === "d";
    } catch {
      return false;
    }
  }

  private startWatcher(): Promise<void> {
    const w = watch(this.root, {
      ignoreInitial: true,
      followSymlinks: false,
      // atomic would hold every unlink back 100 ms; the batch stats each path when it is taken,
      // so an editor's unlink+add is already one change.
      atomic: false,
      ignored: (p: string, stats?: { isDirectory(): boolean }) => {
        const rel = toRel(this.root, p);
        return rel !== "" && !rel.startsWith("..") && this.skip(rel, stats?.isDirectory() ?? false);
      },
    });
    this.watcher = w;
    for (const ev of ["add", "change", "unlink", "addDir", "unlinkDir"] as const) w.on(ev, (p: string) => this.changed(p));
    // chokidar drops some events: a change when only the mode changed and atime is past mtime
    // (it takes that for a read), and the add of a dangling symlink (its stat fails). The raw
    // inotify/FSEvents event still comes, and an extra path costs nothing: the batch stats it
    // and compares it with the model.
    w.on("raw", (ev: string, evPath: string, opts: unknown) => {
      const base = (opts as { watchedPath?: unknown } | null)?.watchedPath;
      if ((ev !== "change" && ev !== "rename") || typeof evPath !== "string" || typeof base !== "string") return;
      // On a file's own watch this names a path below the file (d/f/f): the batch drops it, as
      // it drops any path whose parent is not a real directory.
      this.changed(path.isAbsolute(evPath) ? evPath : path.join(base, evPath));
      if (path.basename(base) !== evPath) return;
      this.changed(base);
      // A watched directory itself was moved or deleted. chokidar keeps its fs.watch on the
      // inode, so when a directory is moved away and another made at the same path (mv d old;
      // mkdir d), it goes on watching the moved one (and its subdirectories) as d, and nothing
      // in the new d is ever reported (chokidar's issues #404, #591, #1059). Watch d afresh.
      if (ev === "rename" && base !== this.root && this.isDir(base)) this.rewatch(w, base);
    });
    w.on("error", (err) => this.o.err(`pidone sync: watching ${this.root}: ${(err as Error).message}`));
    return new Promise((r) => w.once("ready", () => r()));
  }
}
