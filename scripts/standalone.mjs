// Builds a self-contained pidone directory from dist/: the node binary, the bundle, koffi's glibc
// native module, and every shared library node and koffi.node need, the dynamic loader included.
// Copied into any glibc or non-glibc image (by an init container, into an emptyDir), it runs
// there without a shell and without the image's own libraries:
//
//   <dir>/lib/ld.so --library-path <dir>/lib <dir>/node <dir>/pidone.cjs -- APP...
//
// lib/ld.so is the loader under one name for every architecture (it is also there under its own,
// ld-linux-x86-64.so.2 or ld-linux-aarch64.so.1), so one command line serves x64 and arm64 nodes.
// Running node through its loader, instead of setting LD_LIBRARY_PATH, keeps the bundled libraries
// out of the app's environment: the app still loads its own image's libraries.
//
// For this machine's architecture the libraries are the ones ldd lists here. For arm64 on an x64
// machine, node and the libraries come from scripts/arm64.mjs (Node's npm package, Debian's arm64
// packages), listed by that loader's --list; that, and the code cache run, execute arm64 code, so
// they need qemu-user-static registered with binfmt_misc.
//
//   node scripts/standalone.mjs [OUT_DIR] [--arch x64|arm64]    (default dist/standalone; after the build)
//   node scripts/build.mjs --standalone                          (the build, then this)
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as arm64 from "./arm64.mjs";
import { writeCodeCache } from "./code-cache.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Absolute paths of the shared libraries `file` needs, the dynamic loader included: from ldd, or
 *  from `lister` (e.g. [loader, "--library-path", dirs, "--list"]), which prints the same lines. */
export function sharedLibraries(file, lister = ["ldd"]) {
  const [cmd, ...args] = lister;
  const out = execFileSync(cmd, [...args, file], { encoding: "utf8" });
  const libs = [];
  for (const line of out.split("\n")) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}

/** Write the self-contained directory to `out` from the built `dist`, for `arch` (default: this
 *  machine's, with `node`, default this node; arm64 on x64 takes scripts/arm64.mjs's). Returns the
 *  loader's file name inside lib/ and the directory's size in bytes. */
export function buildStandalone({ dist = path.join(root, "dist"), out = path.join(root, "dist/standalone"), arch = process.arch, node = process.execPath } = {}) {
  if (!existsSync(path.join(dist, "pidone.cjs"))) throw new Error(`standalone: ${dist}/pidone.cjs missing; run npm run build first`);
  const target = targetOf(arch, node);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(path.join(out, "lib"), { recursive: true });
  const nodeBin = realpathSync(target.node);
  copy(nodeBin, path.join(out, "node"));
  // The entry (early signal handlers, the code cache's loader) and the bundle it loads.
  copy(path.join(dist, "pidone.cjs"), path.join(out, "pidone.cjs"));
  copy(path.join(dist, "pidone-main.cjs"), path.join(out, "pidone-main.cjs"));
  // Only the glibc triplet of this arch: the loader and libraries copied are glibc's, so a musl
  // koffi.node could never load next to them.
  const triplet = `linux_${arch}`;
  const native = target.koffi ?? path.join(dist, "koffi", triplet, "koffi.node");
  if (!existsSync(native)) throw new Error(`standalone: ${native} missing`);
  copy(native, path.join(out, "koffi", triplet, "koffi.node"));
  let loader = "";
  for (const lib of new Set([nodeBin, native].flatMap((f) => sharedLibraries(f, target.lister)))) {
    // Under its own name (libstdc++.so.6, ld-linux-x86-64.so.2), not the symlink target's.
    copy(realpathSync(lib), path.join(out, "lib", path.basename(lib)));
    if (/^ld-linux.*\.so/.test(path.basename(lib))) loader = path.basename(lib);
  }
  if (!loader) throw new Error(`standalone: the libraries of ${nodeBin} name no ld-linux loader (a static or musl node?)`);
  chmodSync(path.join(out, "lib", loader), 0o755);
  linkSync(path.join(out, "lib", loader), path.join(out, "lib/ld.so"));
  // For images that do have a shell: `<dir>/bin/pidone restart`, found from its own path.
  mkdirSync(path.join(out, "bin"));
  writeFileSync(path.join(out, "bin/pidone"), `#!/bin/sh\nd="\${0%/bin/*}"\nexec "$d/lib/ld.so" --library-path "$d/lib" "$d/node" "$d/pidone.cjs" "$@"\n`, { mode: 0o755 });
  // The code cache for this node (.cache/), run the way the directory runs it: through its loader.
  writeCodeCache(out, path.join(out, "node"), [path.join(out, "lib/ld.so"), "--library-path", path.join(out, "lib")]);
  return { loader, bytes: size(out) };
}

/** The node to copy, how to list what it links, and (arm64 on x64) koffi's module, for `arch`. */
function targetOf(arch, node) {
  if (arch === process.arch) return { node, lister: ["ldd"] };
  if (arch !== "arm64" || process.arch !== "x64") throw new Error(`standalone: cannot build for ${arch} on ${process.arch} (x64 builds x64 and arm64)`);
  const { loader, libraryPath } = arm64.sysroot();
  const lister = [loader, "--library-path", libraryPath, "--list"];
  try {
    execFileSync(loader, ["--version"], { stdio: "ignore" });
  } catch (err) {
    throw new Error(`standalone: cannot run arm64 code here (${err.code ?? err.message}): the arm64 build runs its node under emulation; apt-get install qemu-user-static binfmt-support`);
  }
  return { node: arm64.node(), lister, koffi: path.join(arm64.koffi(), "linux_arm64/koffi.node") };
}

function copy(from, to) {
  mkdirSync(path.dirname(to), { recursive: true });
  copyFileSync(from, to);
  chmodSync(to, statSync(from).mode & 0o777);
}

function size(dir) {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const f = path.join(dir, name);
    const st = statSync(f);
    n += st.isDirectory() ? size(f) : st.size;
  }
  return n;
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf("--arch");
  const arch = at >= 0 ? args.splice(at, 2)[1] : process.arch;
  const out = path.resolve(args[0] ?? path.join(root, "dist/standalone"));
  try {
    const { bytes } = buildStandalone({ out, arch });
    console.log(`standalone: ${out} (linux-${arch}, ${(bytes / 1e6).toFixed(1)} MB), run as ${out}/lib/ld.so --library-path ${out}/lib ${out}/node ${out}/pidone.cjs`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
