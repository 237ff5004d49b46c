// Reading LOCAL_DIR for the sender: the whole tree for a reconcile, or what is now at and below
// the paths of a batch. lstat only; a symlink that points out of LOCAL_DIR is dropped (warned
// once) and never followed; what cannot be read is told to UnreadablePaths. Portable.
import path from "node:path";
import { escapes } from "./protocol.js";
import { scanTree, statEntry, type Entry } from "./tree.js";
import type { UnreadablePaths } from "./unreadable.js";

/** LOCAL_DIR as the sender reads it. */
export class LocalTree {
  private warnedLinks = new Set<string>();

  constructor(
    readonly root: string,
    private skip: (rel: string, isDir: boolean) => boolean,
    private unreadable: UnreadablePaths,
    private warn: (line: string) => void,
  ) {}

  /** Every entry of LOCAL_DIR (the unreadable ones found afresh). */
  scan(): Map<string, Entry> {
    this.unreadable.clear();
    return this.dropEscapingLinks(scanTree(this.root, this.skip, "", this.unreadable.cannotRead));
  }

  /** The entries now at `changed` (sorted, parents first) and below those that are directories. */
  read(changed: readonly string[]): Map<string, Entry> {
    const local = new Map<string, Entry>();
    const dirs = new Map<string, boolean>();
    for (const p of changed) {
      // The watcher can name a path through a symlink (a raw event from a watch set up on a
      // link to a directory): it is not an entry of the tree, and lstat would follow the link.
      if (!this.underRealDirs(p, dirs)) continue;
      // Read again now: what was unreadable at or below p may not be any more.
      this.unreadable.forgetAt(p);
      const e = this.unreadable.tryRead(p, () => statEntry(path.join(this.root, p)));
      if (e === undefined || e === null || this.skip(p, e.kind === "d")) continue;
      local.set(p, e);
      if (e.kind === "d") for (const [q, f] of scanTree(this.root, this.skip, p, this.unreadable.cannotRead)) local.set(q, f);
    }
    return this.dropEscapingLinks(local);
  }

  /** Is every parent of `rel` a real directory (not a symlink)? `memo` holds the answers for
   *  directories already looked at in this batch. */
  private underRealDirs(rel: string, memo: Map<string, boolean>): boolean {
    for (let i = rel.indexOf("/"); i > 0; i = rel.indexOf("/", i + 1)) {
      const dir = rel.slice(0, i);
      let real = memo.get(dir);
      if (real === undefined) {
        real = this.unreadable.tryRead(dir, () => statEntry(path.join(this.root, dir))?.kind === "d") ?? false;
        memo.set(dir, real);
      }
      if (!real) return false;
    }
    return true;
  }

  /** Drop symlinks that point out of LOCAL_DIR (warned once); they are never followed. */
  private dropEscapingLinks(tree: Map<string, Entry>): Map<string, Entry> {
    for (const [p, e] of tree) {
      if (e.kind !== "l") continue;
      const t = e.target as string;
      if (path.isAbsolute(t) || t.startsWith("/") || escapes(p, t.split(path.sep).join("/"))) {
        tree.delete(p);
        if (!this.warnedLinks.has(p)) {
          this.warnedLinks.add(p);
          this.warn(`not syncing symlink ${p} -> ${t}: it points outside LOCAL_DIR`);
        }
      }
    }
    return tree;
  }
}
