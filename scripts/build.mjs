// Builds dist/pidone-main.cjs, one minified CommonJS bundle, and dist/pidone.cjs, the entry that
// loads it: src/boot/early-signals.js as its very first statement, then src/boot/load-bundle.js
// (the bundle through V8's code cache). Plus koffi's native modules (below), and the code
// cache for the node that runs the build (scripts/code-cache.mjs: one start of pidone).
// With --standalone, also dist/standalone/: node, the bundle and node's libraries with their loader,
// to copy into an image that has no Node (scripts/standalone.mjs).
import { build } from "esbuild";
import { cachedKoffi } from "./arm64.mjs";
import { writeCodeCache } from "./code-cache.mjs";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

await build({
  entryPoints: [path.join(root, "src/main.ts")],
  outfile: path.join(dist, "pidone-main.cjs"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  minify: true,
  legalComments: "none",
  define: { PIDONE_VERSION: JSON.stringify(pkg.version) },
  // koffi is loaded from the .node file copied below, never from node_modules.
  external: ["koffi"],
  // The preload zygote (src/preload/zygote.py) travels inside the bundle: dist/ stays self-contained.
  loader: { ".py": "text" },
  plugins: [{
    name: "no-pino-transports",
    setup(b) {
      b.onResolve({ filter: /^thread-stream$/ }, () => ({ path: path.join(root, "src/boot/no-transports.js") }));
    },
  }, {
    name: "lazy-child-process-in-commander",
    setup(b) {
      b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
        /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: path.join(root, "src/boot/lazy-child-process.js") } : undefined);
    },
  }],
  logLevel: "warning",
});

// koffi's prebuilt binaries live in @koromix/koffi-<platform>-<arch>/<triplet>/koffi.node: this
// platform's from node_modules, and on Linux the arm64 ones from tools/arm64 when fetched there
// (`node scripts/arm64.mjs koffi`, which npm pack runs first: the package carries both).
const scope = path.join(root, "node_modules/@koromix");
const koffiPackages = (existsSync(scope) ? readdirSync(scope) : [])
  .filter((name) => name.startsWith(`koffi-${process.platform}-`))
  .map((name) => path.join(scope, name));
const arm64 = process.platform === "linux" ? cachedKoffi() : null;
if (arm64 && !koffiPackages.some((p) => p.endsWith("-arm64"))) koffiPackages.push(arm64);
let copied = 0;
for (const pkgDir of koffiPackages) {
  for (const triplet of readdirSync(pkgDir)) {
    const file = path.join(pkgDir, triplet, "koffi.node");
    if (!existsSync(file)) continue;
    mkdirSync(path.join(dist, "koffi", triplet), { recursive: true });
    cpSync(file, path.join(dist, "koffi", triplet, "koffi.node"));
    copied++;
  }
}
if (copied === 0) {
  console.error("build: no koffi native module found under node_modules/@koromix; run npm ci");
  process.exit(1);
}

// The entry: the early signal handlers first (before any module loads), then the cached bundle.
writeFileSync(path.join(dist, "pidone.cjs"), [
  readFileSync(path.join(root, "src/boot/early-signals.js"), "utf8"),
  readFileSync(path.join(root, "src/boot/load-bundle.js"), "utf8"),
].join(""));

// The entry reads the bundle as latin1 (a one-byte string, no UTF-8 decoding): it must be ASCII,
// which esbuild's default charset guarantees. Its first line names it by a hash of the rest: the
// code cache is valid for that bundle only, wherever it is copied to (src/boot/load-bundle.js).
const bundleFile = path.join(dist, "pidone-main.cjs");
const code = readFileSync(bundleFile, "latin1");
if (!/^[\x00-\x7f]*$/.test(code)) {
  console.error("build: dist/pidone-main.cjs is not ASCII; src/boot/load-bundle.js reads it as latin1");
  process.exit(1);
}
// The entry compiles the bundle with vm.Script, where a dynamic import() throws at run time.
const dynamicImport = /\bimport\s*\(\s*["'`][^"'`]*["'`]\s*\)/.exec(code);
if (dynamicImport) {
  console.error(`build: dist/pidone-main.cjs holds a dynamic ${dynamicImport[0]}; load that module with require (src/boot/load-bundle.js)`);
  process.exit(1);
}
writeFileSync(bundleFile, `// pidone-bundle ${createHash("sha256").update(code).digest("hex").slice(0, 32)}\n${code}`, "latin1");

// The code cache, for the node running the build and any in PIDONE_CACHE_NODES (colon separated).
// It travels with dist/ (any copy: it is keyed by the bundle's id line); Dockerfile.example makes its own.
for (const node of [process.execPath, ...(process.env.PIDONE_CACHE_NODES ?? "").split(":").filter(Boolean)]) {
  try {
    writeCodeCache(dist, path.resolve(node));
  } catch (err) {
    console.error(`build: ${err.message}`);
    process.exit(1);
  }
}

if (process.argv.includes("--standalone")) {
  const { buildStandalone } = await import("./standalone.mjs");
  const { bytes } = buildStandalone({ dist, out: path.join(dist, "standalone") });
  console.log(`build: dist/standalone (${(bytes / 1e6).toFixed(1)} MB)`);
}
