// The receiver's atomic staging: a batch's files and links are written as temporary files beside
// their targets (O_EXCL, never through a link), its deletes, directories and mode changes are
// noted, and nothing is in place until the commit renames them all. Aborting removes every
// temporary file, so a bad or cut stream leaves REMOTE_DIR as it was.
import {
  closeSync, constants, fchmodSync, fstatSync, futimesSync, mkdirSync, openSync, renameSync, symlinkSync, unlinkSync, writeSync,
} from "node:fs";
import path from "node:path";
import { CHUNK, MAX_BATCH_OPS, ProtocolError } from "./protocol.js";
import { clear, ensureParents, lstatOrNull, stageDir } from "./confine.js";
import { noEntry } from "./tree.js";

/** Name prefix of the receiver's temporary files (a leftover one is removed when listing). */
export const TEMP_PREFIX = ".pidone-sync-";
// O_NOFOLLOW on the final component, O_EXCL so a planted file or link at the temp name fails the
// open instead of being written through.
const O_TEMP = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
let tempCounter = 0;

/** A file or symlink complete in its temporary name, waiting for the commit. */
interface Staged {
  rel: string;
  temp: string;
}

/** A file being received: its temporary file and how many bytes are still to come (fd -1 once closed). */
export interface OpenFile {
  rel: string;
  temp: string;
  fd: number;
  remaining: number;
  exec: boolean;
  mtimeMs: number;
}

/** Remove `p`, gone already or not. */
export function unlinkQuiet(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // gone already
  }
}

/** Close and remove a file that will not be committed; safe to call twice. */
export function dropFile(f: OpenFile): void {
  if (f.fd !== -1) {
    const fd = f.fd;
    f.fd = -1;
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
  unlinkQuiet(f.temp);
}

/** One batch between `begin` and `commit`: everything staged, nothing in place yet. */
export class Batch {
  private readonly staged: Staged[] = [];
  private readonly deletes: string[] = [];
  private readonly mkdirs: string[] = [];
  private readonly chmods: { rel: string; exec: boolean }[] = [];
  /** Paths this batch deletes or (re)creates as directories: a non-directory there is replaced. */
  private readonly replaced = new Set<string>();
  private ops = 0;
  files = 0;
  bytes = 0;
  readonly startedAt = performance.now();

  constructor(readonly id: number, private root: string) {}

  /** Open the temporary file for `rel` beside its target; its content comes through write(). */
  openFile(rel: string, size: number, exec: boolean, mtimeMs: number): OpenFile {
    this.count();
    const temp = this.tempBeside(rel);
    const fd = openSync(temp, O_TEMP, 0o600);
    this.bytes += size;
    this.files++;
    return { rel, temp, fd, remaining: size, exec, mtimeMs };
  }

  /** Write the next piece of `f`; true once it is complete and staged. On a failure `f` is dropped. */
  write(f: OpenFile, data: Buffer): boolean {
    try {
      for (let off = 0; off < data.length;) off += writeSync(f.fd, data, off, Math.min(CHUNK, data.length - off));
      f.remaining -= data.length;
      if (f.remaining > 0) return false;
      // Mode and mtime on the descriptor, before the rename: the file appears complete, with the
      // sender's mtime (so the next reconcile finds it equal without hashing).
      fchmodSync(f.fd, f.exec ? 0o755 : 0o644);
      futimesSync(f.fd, f.mtimeMs / 1000, f.mtimeMs / 1000);
    } catch (err) {
      dropFile(f);
      throw err;
    }
    const fd = f.fd;
    f.fd = -1;
    this.staged.push({ rel: f.rel, temp: f.temp });
    closeSync(fd);
    return true;
  }

  /** Stage a symlink under a temporary name beside its target. */
  symlink(rel: string, target: string): void {
    this.count();
    const temp = this.tempBeside(rel);
    symlinkSync(target, temp); // fails with EEXIST rather than replacing anything
    this.staged.push({ rel, temp });
    this.files++;
  }

  /** Note a directory to make at commit (a non-directory there is replaced). */
  mkdir(rel: string): void {
    this.count();
    stageDir(this.root, rel, this.replaced);
    this.mkdirs.push(rel);
    this.replaced.add(rel);
  }

  /** Note a path to delete at commit. */
  delete(rel: string): void {
    this.count();
    stageDir(this.root, rel, this.replaced);
    this.deletes.push(rel);
    this.replaced.add(rel);
  }

  /** Note a mode change to make at commit. */
  chmod(rel: string, exec: boolean): void {
    this.count();
    stageDir(this.root, rel, this.replaced);
    this.chmods.push({ rel, exec });
  }

  /** Remove every temporary file of this batch (a file still open is its phase's to drop). */
  abort(): void {
    for (const s of this.staged) unlinkQuiet(s.temp);
    this.staged.length = 0;
  }

  /** Apply the validated batch: deletes, then directories, then renames, then mode changes. */
  commit(): void {
    const root = this.root;
    for (const rel of this.deletes) {
      stageDir(root, rel, new Set()); // refuses a path through a symlink
      clear(this.abs(rel));
    }
    for (const rel of this.mkdirs) {
      ensureParents(root, rel);
      const abs = this.abs(rel);
      const st = lstatOrNull(abs);
      if (st && !st.isDirectory()) clear(abs);
      if (!st || !st.isDirectory()) mkdirSync(abs, 0o755);
    }
    for (const s of this.staged) {
      ensureParents(root, s.rel);
      const abs = this.abs(s.rel);
      const st = lstatOrNull(abs);
      if (st?.isDirectory()) clear(abs);
      // rename(2) replaces the name atomically and never follows a link at the target.
      renameSync(s.temp, abs);
    }
    this.staged.length = 0;
    for (const { rel, exec } of this.chmods) {
      stageDir(root, rel, new Set());
      let fd: number;
      try {
        fd = openSync(this.abs(rel), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
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

  private count(): void {
    if (++this.ops > MAX_BATCH_OPS) throw new ProtocolError(`batch has more than ${MAX_BATCH_OPS} operations`);
  }

  /** A fresh temporary name in the confined directory `rel` goes to. */
  private tempBeside(rel: string): string {
    return path.join(stageDir(this.root, rel, this.replaced), `${TEMP_PREFIX}${process.pid}-${++tempCounter}.tmp`);
  }

  private abs(rel: string): string {
    return path.join(this.root, ...rel.split("/"));
  }
}
