// Scanning and hashing a tree, the same way on both ends: lstat only (a symlink is an entry with
// its target text, never followed), the executable bit as the only mode that matters, mtime in
// whole milliseconds (the receiver sets it from the sender's, so an unchanged file compares equal
// without reading it). Portable: used by the sender on macOS and Windows too.
import { createHash } from "node:crypto";
import { closeSync, constants, lstatSync, openSync, readSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import path from "node:path";

/** One path of a tree. */
export interface Entry {
  kind: "f" | "d" | "l";
  size: number;
  exec: boolean;
  mtimeMs: number;
  target?: string;
}

/** The entry for an lstat result, or null for what pidone sync does not carry (sockets, fifos...). */
export function entryOf(st: Stats, abs: string): Entry | null {
  if (st.isSymbolicLink()) return { kind: "l", size: 0, exec: false, mtimeMs: 0, target: readlinkSync(abs) };
  if (st.isDirectory()) return { kind: "d", size: 0, exec: false, mtimeMs: 0 };
  // Windows has no executable bit: st.mode says nothing there, so every file reads as plain.
  if (st.isFile()) return { kind: "f", size: st.size, exec: process.platform !== "win32" && (st.mode & 0o100) !== 0, mtimeMs: Math.floor(st.mtimeMs) };
  return null;
}

/** lstat one path; null when it is gone or of a kind not synced, or when a symlink loop on the
 *  way (ELOOP: a parent replaced by a link since it was checked) means it is no entry of the tree. */
export function statEntry(abs: string): Entry | null {
  try {
    return entryOf(lstatSync(abs), abs);
  } catch (err) {
    if (noEntry(err)) return null;
    throw err;
  }
}

/** ENOENT and ENOTDIR: the path (or a parent) is gone, as can happen any time in a live tree. */
export function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** Gone, or ELOOP: a link where O_NOFOLLOW opened, or a loop among the links on the way. Either
 *  way there is no file there to read. */
export function noEntry(err: unknown): boolean {
  return isGone(err) || (err as NodeJS.ErrnoException).code === "ELOOP";
}

/** Told of a path a scan could not read (a directory it could not list, an entry it could not
 *  lstat: EACCES, EPERM, EIO...); the scan goes on without it. Without one, the error is thrown. */
export type CannotRead = (rel: string, err: NodeJS.ErrnoException) => void;

/** Walk `root` (not following symlinks) into a map of '/'-separated relative paths. `skip(rel,
 *  isDir)` prunes a path and, for a directory, all below it. */
export function scanTree(root: string, skip: (rel: string, isDir: boolean) => boolean, under = "", cannotRead?: CannotRead): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(rel === "" ? root : path.join(root, rel));
    } catch (err) {
      if (isGone(err)) return;
      if (!cannotRead) throw err;
      cannotRead(rel, err as NodeJS.ErrnoException);
      return;
    }
    for (const name of names) {
      const child = rel === "" ? name : `${rel}/${name}`;
      const abs = path.join(root, child);
      let e: Entry | null;
      try {
        e = entryOf(lstatSync(abs), abs);
      } catch (err) {
        if (isGone(err)) continue;
        if (!cannotRead) throw err;
        cannotRead(child, err as NodeJS.ErrnoException);
        continue;
      }
      if (e === null || skip(child, e.kind === "d")) continue;
      out.set(child, e);
      if (e.kind === "d") walk(child);
    }
  };
  walk(under);
  return out;
}

/** sha256 of a file's content (hex), read in pieces; null when it is gone or a symlink (O_NOFOLLOW:
 *  the receiver must not hash, and so reveal, what a planted link points at). */
export function hashFile(abs: string): string | null {
  let fd: number;
  try {
    fd = openSync(abs, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    if (noEntry(err)) return null;
    throw err;
  }
  try {
    const h = createHash("sha256");
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
    return h.digest("hex");
  } finally {
    closeSync(fd);
  }
}

/** The paths of `tree` at or below `rel`. */
export function under(tree: Map<string, Entry>, rel: string): string[] {
  const prefix = `${rel}/`;
  return [...tree.keys()].filter((p) => p === rel || p.startsWith(prefix));
}
