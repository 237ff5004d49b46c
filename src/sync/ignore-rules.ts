// What pidone sync never sends: VCS and dependency directories, bytecode, editor temporaries, the
// trigger file, the receiver's own temporaries, what LOCAL_DIR's .gitignore files say (each
// relative to its own directory, as git reads them) and --ignore globs. Portable.
import { readFileSync } from "node:fs";
import path from "node:path";
import ignore, { type Ignore } from "ignore";

/** Directory names skipped everywhere, on both ends (the receiver skips them when listing). */
export const SKIP_DIRS = [".git", "node_modules", "__pycache__"];

/** Patterns (gitignore syntax) always ignored. */
export const DEFAULT_IGNORES = [
  ...SKIP_DIRS.map((d) => `${d}/`),
  "*.pyc",
  // Editor temporaries: vim swap and backup files, emacs lock and autosave files, JetBrains' and
  // others' atomic-save temporaries, macOS Finder litter.
  "*.swp", "*.swo", "*.swx", "*~", ".#*", "#*#", "*___jb_tmp___", "*___jb_old___", "*.tmp", ".DS_Store", "4913",
  ".restart_trigger",
  ".pidone-sync-*",
];

/** Decides whether a relative path is ignored. `.gitignore` files are read on first use per
 *  directory; `forget(dir)` drops one after it changed. */
export class IgnoreRules {
  private base: Ignore;
  private perDir = new Map<string, Ignore | null>();

  constructor(private root: string, extra: readonly string[] = []) {
    this.base = ignore().add(DEFAULT_IGNORES).add([...extra]);
  }

  /** Is `rel` ('/'-separated) ignored? A path below an ignored directory is ignored too. */
  ignores(rel: string, isDir: boolean): boolean {
    const parts = rel.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join("/");
      const dir = i < parts.length || isDir;
      if (this.base.ignores(dir ? `${sub}/` : sub)) return true;
      // Each .gitignore above `sub` speaks about it relative to its own directory, and the
      // deepest one with a verdict wins (git's precedence: `!keep.log` in sub/ re-includes).
      for (let j = i - 1; j >= 0; j--) {
        const ig = this.gitignore(parts.slice(0, j).join("/"));
        if (ig === null) continue;
        const relToDir = parts.slice(j, i).join("/");
        const verdict = ig.test(dir ? `${relToDir}/` : relToDir);
        if (verdict.ignored) return true;
        if (verdict.unignored) break;
      }
    }
    return false;
  }

  /** Forget the cached .gitignore of directory `dir` (relative), after it changed. */
  forget(dir: string): void {
    this.perDir.delete(dir);
  }

  private gitignore(dir: string): Ignore | null {
    let ig = this.perDir.get(dir);
    if (ig !== undefined) return ig;
    try {
      ig = ignore().add(readFileSync(path.join(this.root, dir, ".gitignore"), "utf8"));
    } catch {
      ig = null;
    }
    this.perDir.set(dir, ig);
    return ig;
  }
}
