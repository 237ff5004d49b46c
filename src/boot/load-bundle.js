// Second part of dist/pidone.cjs, the entry (after early-signals.js): load the bundle,
// dist/pidone-main.cjs, with V8's code cache for the code that runs before the app's spawn.
//
// Why not Node's own module.enableCompileCache (Node 22): it stores the cache the moment the
// bundle is compiled, when V8 has compiled only its top level; every function on the way to the
// spawn (commander, the config, the supervisor) would still be compiled lazily at every start. Here the
// cache is made after the first spawn (`script.createCachedData()`, which includes every function
// compiled so far), so a start deserializes the spawn path instead of compiling it; what runs
// after the spawn is compiled lazily, when it first runs. Same on Node 20 (which has no compile
// cache).
//
// The cache is one file per node (version and arch) in dist/.cache, made at build time and at
// image build time (scripts/build.mjs, Dockerfile.example) by a run with PIDONE_WRITE_CODE_CACHE=1.
// It is used only if it was made from this very bundle: its header holds the bundle's id (the
// build names each bundle on its first line by a hash of its code) and length, so a rebuilt
// bundle never uses an old cache, and a copy (COPY, cp -r, an init container) keeps its cache.
// V8 then checks its own version, flags and the source's length, and rejects a cache that does
// not fit. Anything wrong with the cache (missing, stale, rejected, unreadable, read-only
// directory) means a plain compile, never an error. What happened is in
// globalThis.__pidoneBoot.codeCache (logged at debug after the spawn).
// V8 does not checksum a cache's body in release builds: the file is trusted as the bundle
// beside it is. It is written only by that build step, whole (fsync, then rename over), never
// by a pidone at run time, and an image layer is checked against its digest when pulled.
(() => {
  const fs = require("node:fs");
  const path = require("node:path");
  const vm = require("node:vm");
  const file = path.join(__dirname, "pidone-main.cjs");
  // The build checks that the bundle is ASCII (esbuild escapes the rest), so latin1 reads it
  // exactly, into a one-byte string, faster than decoding UTF-8.
  const source = fs.readFileSync(file, "latin1");
  const cacheFile = path.join(__dirname, ".cache", `pidone-main-${process.version}-${process.arch}.v8`);
  const firstLine = source.slice(0, Math.max(0, source.indexOf("\n")));
  const id = firstLine.startsWith("// pidone-bundle ") ? firstLine.slice("// pidone-bundle ".length) : "";
  const stamp = () => `pidone-code-cache-2 ${id} ${source.length}\n`;
  let cachedData;
  let state = "missing";
  try {
    const data = fs.readFileSync(cacheFile);
    const newline = data.indexOf(10);
    if (id !== "" && newline > 0 && newline < 200 && data.toString("latin1", 0, newline + 1) === stamp()) cachedData = data.subarray(newline + 1);
    else state = "stale";
  } catch {
    // no cache for this node: compile
  }
  // Module.wrap's wrapper, written out: loading node:module for it costs more than the rest here.
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
  // No importModuleDynamically: a dynamic import() in code compiled by vm.Script throws
  // ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING, and vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER
  // does not survive a code cache on Node 20 (and warns there). So the bundle has none: the build
  // refuses one (esbuild keeps import() of node's own modules; src loads those with require).
  const script = new vm.Script(wrapped, { filename: file, cachedData });
  if (cachedData) state = script.cachedDataRejected ? "rejected" : "hit";
  const boot = {
    codeCache: state,
    /** Called by the supervisor once the first generation is spawned: with
     *  PIDONE_WRITE_CODE_CACHE=1 (the build's run), write the cache of what ran until then. */
    spawned() {
      boot.spawned = () => {};
      if (process.env.PIDONE_WRITE_CODE_CACHE !== "1") return;
      if (id === "") {
        boot.codeCache = "not written: the bundle has no id line (not built by scripts/build.mjs)";
        return;
      }
      try {
        const temp = `${cacheFile}.${process.pid}`;
        fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
        const fd = fs.openSync(temp, "w", 0o644);
        try {
          fs.writeSync(fd, Buffer.concat([Buffer.from(stamp(), "latin1"), script.createCachedData()]));
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(temp, cacheFile);
        boot.codeCache = "written";
      } catch (err) {
        boot.codeCache = `not written: ${err.message}`;
      }
    },
  };
  globalThis.__pidoneBoot = boot;
  // The bundle requires only node's modules and koffi's native module by absolute path, and it
  // lives in this directory: this file's own require resolves for it exactly as its own would.
  const mod = { exports: {}, filename: file, id: file };
  script.runInThisContext()(mod.exports, require, mod, file, __dirname);
})();
