// Builds a self-contained pidone directory from dist/: the node binary, the bundle, koffi's glibc
// native module, and every shared library node and koffi.node need (from ldd), the dynamic loader
// included. Copied into any glibc or non-glibc image (by an init container, into an emptyDir), it
// runs there without a shell and without the image's own libraries:
//
//   <dir>/lib/ld-linux-x86-64.so.2 --library-path <dir>/lib <dir>/node <dir>/pidone.cjs -- APP...
//
// Running node through its loader, instead of setting LD_LIBRARY_PATH, keeps the bundled libraries
// out of the app's environment: the app still loads its own image's libraries.
//
//   node scripts/standalone.mjs [OUT_DIR]        (default dist/standalone; run after the build)
//   node scripts/build.mjs --standalone          (the build, then this)
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeCodeCache } from "./code-cache.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Absolute paths of the shared libraries `file` needs, the dynamic loader included (from ldd). */
export function sharedLibraries(file) {
  const out = execFileSync("ldd", [file], { encoding: "utf8" });
  const libs = [];
  for (const line of out.split("\n")) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}

/** Write the self-contained directory to `out` from the built `dist`, with `node` (default: this
 *  node). Returns the loader's file name inside lib/ and the directory's size in bytes. */
export function buildStandalone({ dist = path.join(root, "dist"), out = path.join(root, "dist/standalone"), node = process.execPath } = {}) {
  if (!existsSync(path.join(dist, "pidone.cjs"))) throw new Error(`standalone: ${dist}/pidone.cjs missing; run npm run build first`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(path.join(out, "lib"), { recursive: true });
  const nodeBin = realpathSync(node);
  copy(nodeBin, path.join(out, "node"));
  // The entry (early signal handlers, the code cache's loader) and the bundle it loads.
  copy(path.join(dist, "pidone.cjs"), path.join(out, "pidone.cjs"));
  copy(path.join(dist, "pidone-main.cjs"), path.join(out, "pidone-main.cjs"));
  // Only glibc triplets: the loader and libraries copied are glibc's, so a musl koffi.node could
  // never load next to them.
  const natives = [];
  for (const triplet of readdirSync(path.join(dist, "koffi"))) {
    if (!triplet.startsWith("linux_")) continue;
    const f = path.join(dist, "koffi", triplet, "koffi.node");
    copy(f, path.join(out, "koffi", triplet, "koffi.node"));
    natives.push(f);
  }
  let loader = "";
  for (const lib of new Set([nodeBin, ...natives].flatMap(sharedLibraries))) {
    // Under its own name (libstdc++.so.6, ld-linux-x86-64.so.2), not the symlink target's.
    copy(realpathSync(lib), path.join(out, "lib", path.basename(lib)));
    if (/^ld-linux.*\.so/.test(path.basename(lib))) loader = path.basename(lib);
  }
  if (!loader) throw new Error(`standalone: ldd ${nodeBin} names no ld-linux loader (a static or musl node?)`);
  chmodSync(path.join(out, "lib", loader), 0o755);
  // For images that do have a shell: `<dir>/bin/pidone restart`, found from its own path.
  mkdirSync(path.join(out, "bin"));
  writeFileSync(path.join(out, "bin/pidone"), `#!/bin/sh\nd="\${0%/bin/*}"\nexec "$d/lib/${loader}" --library-path "$d/lib" "$d/node" "$d/pidone.cjs" "$@"\n`, { mode: 0o755 });
  // The code cache for this node (.cache/), run the way the directory runs it: through its loader.
  writeCodeCache(out, path.join(out, "node"), [path.join(out, "lib", loader), "--library-path", path.join(out, "lib")]);
  return { loader, bytes: size(out) };
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
  const out = path.resolve(process.argv[2] ?? path.join(root, "dist/standalone"));
  const { loader, bytes } = buildStandalone({ out });
  console.log(`standalone: ${out} (${(bytes / 1e6).toFixed(1)} MB), run as ${out}/lib/${loader} --library-path ${out}/lib ${out}/node ${out}/pidone.cjs`);
}
