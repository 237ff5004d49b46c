// What the receiver tells the sender about REMOTE_DIR: its tree, and the hash of a file, both
// read without following a symlink out of it.
import path from "node:path";
import type { WireEntry } from "./protocol.js";
import { stageDir } from "./confine.js";
import { TEMP_PREFIX, unlinkQuiet } from "./staging.js";
import { hashFile, scanTree } from "./tree.js";

/** The receiver's tree, for the sender to compare with. Leftover temporaries of a receiver that
 *  was killed mid-batch are removed on the way. */
export function listTree(root: string, skip: ReadonlySet<string>): WireEntry[] {
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

/** sha256 of the file at `rel`, or null when it is gone, not a file, or reached through a symlink. */
export function hashOne(root: string, rel: string): string | null {
  try {
    stageDir(root, rel, new Set());
  } catch {
    return null;
  }
  return hashFile(path.join(root, ...rel.split("/")));
}
