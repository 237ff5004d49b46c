// Makes dist/.cache/pidone-main-<node version>-<arch>.v8, the code cache src/boot/load-bundle.js
// loads the bundle with: one real start of the supervisor with PIDONE_WRITE_CODE_CACHE=1, which
// writes the cache right after the first spawn, so it holds the code of the path to the spawn.
// Run by the build for the node that builds (and those in PIDONE_CACHE_NODES), by the standalone
// build for its node, and by hand (or in an image build) as
//
//   node scripts/code-cache.mjs [DIST_DIR] [NODE...]
//
// The app is `node -e 0` (the node running this script). The run is not PID 1; it runs in a
// directory of its own, with its control socket there, and without the caller's PIDONE_*
// settings or NODE_OPTIONS (V8 rejects a cache made under other V8 flags), so it takes the
// default path.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Write the cache of `dist` for `node`; returns the cache's path, or throws with pidone's output. */
export function writeCodeCache(dist, node = process.execPath, runner = []) {
  const work = mkdtempSync(path.join(os.tmpdir(), "pidone-code-cache-"));
  try {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PIDONE_") && k !== "NODE_OPTIONS"));
    Object.assign(env, { PIDONE_WRITE_CODE_CACHE: "1", PIDONE_CONTROL_SOCKET: path.join(work, "pidone.sock"), PIDONE_LOG_LEVEL: "debug", PIDONE_LOG_FORMAT: "json" });
    // The node's own version and arch (the file load-bundle.js looks for): an arm64 node run under
    // emulation on x64 names arm64.
    const id = spawnSync(...cmd(runner, node, ["-p", "process.version + '-' + process.arch"]), { encoding: "utf8", env }).stdout.trim();
    const r = spawnSync(...cmd(runner, node, [path.join(dist, "pidone.cjs"), "--", process.execPath, "-e", "0"]), { cwd: work, encoding: "utf8", env, timeout: 30_000 });
    const line = r.stderr.split("\n").find((l) => l.includes('"event":"code-cache"'));
    const cache = path.join(dist, ".cache", `pidone-main-${id}.v8`);
    if (r.status !== 0 || !line?.includes('"state":"written"') || !existsSync(cache)) {
      throw new Error(`code cache for ${node} not written (exit ${r.status}): ${line ?? ""}${r.stderr}${r.stdout}`.trim());
    }
    return cache;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** [file, args] for node, through a runner prefix (the standalone's dynamic loader). */
function cmd(runner, node, args) {
  return runner.length > 0 ? [runner[0], [...runner.slice(1), node, ...args]] : [node, args];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist"), ...nodes] = process.argv.slice(2);
  for (const node of nodes.length > 0 ? nodes : [process.execPath]) console.log(`code cache: ${writeCodeCache(path.resolve(dist), node)}`);
}
