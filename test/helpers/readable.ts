// What a test runs as another user (uid 65534, through setpriv) must be reachable by that user.
// A clone can sit below a directory only root may enter (/root, any `mktemp -d`): then the file's
// directory is linked (or copied) into the run's shared directory, mode 0755, which the global
// teardown removes.
import { copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** The environment variable naming the run's shared directory (set by the global setup). */
export const SHARED_DIR = "PIDONE_TEST_SHARED";

const copies = new Map<string, string>();
let own: string | null = null;

/** This worker's part of the shared directory, mode 0755 all the way down from /tmp. */
function sharedDir(): string {
  if (own) return own;
  const base = process.env[SHARED_DIR];
  if (base && existsSync(base)) {
    own = path.join(base, String(process.pid));
    mkdirSync(own, { recursive: true, mode: 0o755 });
  } else {
    own = mkdtempSync(path.join(tmpdir(), "pidone-shared-"));
    const dir = own;
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return own;
}

/** Whether every directory above `file` lets others search it, and others may read `file`. */
export function othersCanRead(file: string): boolean {
  const real = realpathSync(file);
  if ((statSync(real).mode & 0o004) === 0) return false;
  for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === path.dirname(dir)) return true;
  }
}

/** Link each file of `from` into `to` (a copy across file systems), directories made 0755. */
function mirror(from: string, to: string): void {
  mkdirSync(to, { recursive: true, mode: 0o755 });
  for (const name of readdirSync(from)) {
    const src = path.join(from, name);
    const dst = path.join(to, name);
    const st = lstatSync(src).isSymbolicLink() ? statSync(src) : lstatSync(src);
    if (st.isDirectory()) mirror(src, dst);
    else if (st.isFile()) {
      try {
        linkSync(src, dst);
      } catch {
        copyFileSync(src, dst);
      }
    }
  }
}

/** `file` (or directory) itself if uid 65534 can read it where it is; else the same path inside a
 *  mirror of its directory (siblings included: dist/pidone.cjs needs dist/koffi) that it can read. */
export function readable(file: string): string {
  if (othersCanRead(file)) return file;
  const real = realpathSync(file);
  const dir = statSync(real).isDirectory() ? real : path.dirname(real);
  let copy = copies.get(dir);
  if (copy === undefined) {
    copy = path.join(sharedDir(), `${copies.size}-${path.basename(dir)}`);
    mirror(dir, copy);
    copies.set(dir, copy);
  }
  return path.join(copy, path.relative(dir, real));
}
