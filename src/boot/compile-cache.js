// Second part of dist/pidone.cjs, the entry (after early-signals.js): turn on V8's code cache for
// the bundle, then load it (dist/pidone-main.cjs). Node 22.1+ has module.enableCompileCache;
// Node 20 has not, and just compiles. The cache lives in dist/.cache and is made at build time
// (scripts/build.mjs, Dockerfile.example): Node keys an entry by the bundle's absolute path and
// checks a hash of its source, so a moved or rebuilt bundle misses and compiles as before. In a
// read-only directory Node writes nothing and says nothing.
(() => {
  const mod = require("node:module");
  if (typeof mod.enableCompileCache !== "function") return;
  try {
    mod.enableCompileCache(require("node:path").join(__dirname, ".cache"));
  } catch {
    // a cache is an optimisation: never a reason not to start
  }
})();
require("./pidone-main.cjs");
