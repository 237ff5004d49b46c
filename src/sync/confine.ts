// The receiver's confinement: every path it touches is checked component by component with
// lstat, so nothing is read or written through a symlink or outside REMOTE_DIR, at staging and
// again at commit (the tree can change in between).
import { lstatSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { ProtocolError } from "./protocol.js";
import { isGone } from "./tree.js";

/** The deepest existing real directory above `rel` that a batch keeps, checking every
 *  component with lstat: a symlink (or a file) on the way is refused unless the batch replaces
 *  it (`replaced`). Components below the returned one are created at commit. */
export function stageDir(root: string, rel: string, replaced: ReadonlySet<string>): string {
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
export function ensureParents(root: string, rel: string): void {
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
export function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch (err) {
    if (isGone(err)) return null;
    throw err;
  }
}

/** Make room at `abs` for something of another kind: remove a directory (recursively; rmSync
 *  lstats and never follows a link) or whatever else is there. */
export function clear(abs: string): void {
  rmSync(abs, { recursive: true, force: true });
}
