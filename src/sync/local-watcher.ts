// Watching LOCAL_DIR with chokidar, and the workarounds for what chokidar misses: it only tells
// which paths may have changed (each batch stats them afresh), so an extra path costs nothing and
// a missed one loses a change. Portable (inotify on Linux, FSEvents on macOS, ReadDirectoryChangesW).
import path from "node:path";
import { watch, type FSWatcher } from "chokidar";
import type { IgnoreRules } from "./ignore-rules.js";
import { statEntry } from "./tree.js";

const toRel = (root: string, abs: string) => path.relative(root, abs).split(path.sep).join("/");

/** Watch `root` (what `rules` ignore is not watched) and call `onChange` with each relative path
 *  that may have changed; resolves once the watcher is ready. A changed .gitignore is forgotten
 *  by `rules` before it is reported. */
export function watchLocal(root: string, rules: IgnoreRules, onChange: (rel: string) => void, onError: (err: Error) => void): Promise<FSWatcher> {
  const changed = (abs: string) => {
    const rel = toRel(root, abs);
    if (rel === "" || rel.startsWith("..")) return;
    if (rel === ".gitignore" || rel.endsWith("/.gitignore")) rules.forget(rel.slice(0, Math.max(0, rel.lastIndexOf("/"))));
    onChange(rel);
  };
  const w = watch(root, {
    ignoreInitial: true,
    followSymlinks: false,
    // atomic would hold every unlink back 100 ms; the batch stats each path when it is taken,
    // so an editor's unlink+add is already one change.
    atomic: false,
    ignored: (p: string, stats?: { isDirectory(): boolean }) => {
      const rel = toRel(root, p);
      return rel !== "" && !rel.startsWith("..") && rules.ignores(rel, stats?.isDirectory() ?? false);
    },
  });
  for (const ev of ["add", "change", "unlink", "addDir", "unlinkDir"] as const) w.on(ev, (p: string) => changed(p));
  // chokidar drops some events: a change when only the mode changed and atime is past mtime
  // (it takes that for a read), and the add of a dangling symlink (its stat fails). The raw
  // inotify/FSEvents event still comes, and an extra path costs nothing: the batch stats it
  // and compares it with the model.
  w.on("raw", (ev: string, evPath: string, opts: unknown) => {
    const base = (opts as { watchedPath?: unknown } | null)?.watchedPath;
    if ((ev !== "change" && ev !== "rename") || typeof evPath !== "string" || typeof base !== "string") return;
    // On a file's own watch this names a path below the file (d/f/f): the batch drops it, as
    // it drops any path whose parent is not a real directory.
    changed(path.isAbsolute(evPath) ? evPath : path.join(base, evPath));
    if (path.basename(base) !== evPath) return;
    changed(base);
    // A watched directory itself was moved or deleted. chokidar keeps its fs.watch on the
    // inode, so when a directory is moved away and another made at the same path (mv d old;
    // mkdir d), it goes on watching the moved one (and its subdirectories) as d, and nothing
    // in the new d is ever reported (chokidar's issues #404, #591, #1059). Watch d afresh.
    if (ev === "rename" && base !== root && isDir(base)) rewatch(w, base);
  });
  w.on("error", (err) => onError(err as Error));
  return new Promise((r) => w.once("ready", () => r(w)));
}

/** Close the watches on `dir` and every directory below it, then watch them again: they
 *  are set up on what is at those paths now. (unwatch alone would also ignore those paths from
 *  then on, and add clears that only for the paths it is given: hence every one of them;
 *  chokidar shares one fs.watch per path, so a second watcher would get the stale ones.) */
function rewatch(w: FSWatcher, dir: string): void {
  const prefix = `${dir}${path.sep}`;
  const dirs = Object.keys(w.getWatched()).filter((d) => d === dir || d.startsWith(prefix));
  if (!dirs.includes(dir)) dirs.push(dir);
  w.unwatch(dirs);
  w.add(dirs.sort());
}

function isDir(abs: string): boolean {
  try {
    return statEntry(abs)?.kind === "d";
  } catch {
    return false;
  }
}
