// Container-like root file systems for tests: the node binary and the libraries ldd names, the
// built bundle (dist/ with koffi.node), the files a test adds, and nothing else unless asked
// (busybox for a shell). Used by the chroot test (test/integration/minimal-rootfs.test.ts) and as
// the content of the engine tests' images (`tar -C ROOT -c . | podman import - NAME`).
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BUNDLE, ROOT } from "./pidone.js";

/** Paths inside a root file system built here. */
export const NODE = "/usr/local/bin/node";
export const PIDONE = "/opt/pidone/pidone.cjs";
/** The `pidone` command: a shebang launcher, as in Dockerfile.example (no shell needed). */
export const LAUNCHER = "/usr/local/bin/pidone";
export const BUSYBOX = "/bin/busybox";

export interface RootfsOptions {
  /** Host node binary to put at NODE (default: the one running the tests). */
  node?: string;
  /** Files to add: path inside -> host path. */
  files?: Record<string, string>;
  /** Add busybox-static at /bin/busybox with these applets linked in /bin (e.g. ["sh", "cp"]). */
  busybox?: string[];
  /** Empty directories to create (mount points, working directories). */
  dirs?: string[];
}

/** Build a root file system in a new temp dir (the caller removes it) and return its path. */
export function buildRootfs(opts: RootfsOptions = {}): string {
  const root = mkdtempSync(path.join(tmpdir(), "pidone-rootfs-"));
  const node = realpathSync(opts.node ?? process.execPath);
  place(root, node, NODE);
  const koffi = path.join(ROOT, "dist/koffi");
  // This machine's arch only: dist/koffi also holds arm64's once fetched (scripts/arm64.mjs), and ldd refuses those.
  const natives = readdirSync(koffi).filter((t) => t.endsWith(`_${process.arch}`)).map((t) => path.join(koffi, t, "koffi.node")).filter((f) => existsSync(f));
  // The shared libraries of node and of koffi.node (the glibc one loads; the musl one is never dlopened).
  for (const lib of new Set([node, ...natives].flatMap(sharedLibraries))) place(root, realpathSync(lib), lib);
  // The entry and the bundle it loads (dist/pidone.cjs requires ./pidone-main.cjs).
  place(root, BUNDLE, PIDONE);
  place(root, path.join(path.dirname(BUNDLE), "pidone-main.cjs"), path.join(path.dirname(PIDONE), "pidone-main.cjs"));
  for (const f of natives) place(root, f, path.join(path.dirname(PIDONE), path.relative(path.dirname(BUNDLE), f)));
  // A launcher for `podman exec CTR pidone restart`; --disable-sigusr1 only where node has it (22.14+).
  const flag = nodeHasFlag(node, "--disable-sigusr1") ? " --disable-sigusr1" : "";
  writeFileSync(path.join(root, LAUNCHER), `#!${NODE}${flag}\nrequire(${JSON.stringify(PIDONE)});\n`, { mode: 0o755 });
  for (const [inside, host] of Object.entries(opts.files ?? {})) place(root, host, inside);
  if (opts.busybox) {
    place(root, "/bin/busybox", BUSYBOX);
    for (const applet of opts.busybox) symlinkSync("busybox", path.join(root, "bin", applet));
  }
  for (const dir of ["proc", "tmp", ...(opts.dirs ?? [])]) mkdirSync(path.join(root, dir), { recursive: true });
  chmodSync(path.join(root, "tmp"), 0o1777);
  return root;
}

/** Absolute paths of the shared libraries `file` needs, the dynamic loader included (from ldd). */
export function sharedLibraries(file: string): string[] {
  const out = execFileSync("ldd", [file], { encoding: "utf8" });
  const libs: string[] = [];
  for (const line of out.split("\n")) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}

/** Every file below `dir` (not directories). */
export function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const f = path.join(dir, name);
    if (statSync(f, { throwIfNoEntry: false })?.isDirectory()) out.push(...walk(f));
    else out.push(f);
  }
  return out;
}

/** Put host file `from` at `to` inside `root`: a hard link when possible (node is ~100 MB). */
function place(root: string, from: string, to: string): void {
  const dest = path.join(root, to);
  mkdirSync(path.dirname(dest), { recursive: true });
  if (existsSync(dest)) return;
  try {
    linkSync(from, dest);
  } catch {
    copyFileSync(from, dest);
    chmodSync(dest, statSync(from).mode & 0o777);
  }
}

function nodeHasFlag(node: string, flag: string): boolean {
  try {
    execFileSync(node, [flag, "-e", ""], { stdio: "ignore", env: { PATH: process.env.PATH ?? "" } });
    return true;
  } catch {
    return false;
  }
}
