// `node bench/sync.mjs` (or `node bench/run.mjs --only sync`): the inner loop, edit to new code.
// From saving a file in LOCAL_DIR to the first HTTP answer that shows the new code, for
// examples/apps/flask_app.py and examples/apps/node_server.js under pidone (PID 1 of its own PID
// namespace), through the local transport (`--via 'env PIDONE_CONTROL_SOCKET=...'`). Beside it
// the loop done the way users do it today: a tar stream over the same transport, then `pidone
// restart`. "sync part" is save -> the receiver asking for the restart (its `applied` event).
// Also a one-file change in a 10,000-file tree against a 10-file tree. BENCH_QUICK=1: fewer trials.
import { spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { percentile, table } from "./lib/stats.mjs";
import { freePort } from "./lib/net.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const BUNDLE = path.join(root, "dist/pidone.cjs");
const NODE = process.execPath;
const QUICK = process.env.BENCH_QUICK === "1";
const TRIALS = QUICK ? 5 : 20;
const log = (msg) => process.stderr.write(`bench sync: ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const env = { ...process.env, PIDONE_LOG_FORMAT: "json", PIDONE_LOG_LEVEL: "warn" };
delete env.NODE_EXTRA_CA_CERTS; // costs every Node start ~90 ms on this machine
delete env.NODE_OPTIONS;

function get(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false, timeout: 2000 }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve(body));
      // A generation stopped in the middle of its answer: the body never ends. Without these the
      // promise never settled, and the section hung for good (seen with Flask's dev server).
      res.on("error", reject);
      res.on("close", () => reject(new Error("closed before the end of the answer")));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** Poll GET / every 2 ms until the answer carries `version`; returns the instant (bounded). */
async function newCode(port, version, timeoutMs = 20_000) {
  const until = performance.now() + timeoutMs;
  for (;;) {
    try {
      const body = await get(port);
      if (JSON.parse(body).version === version) return performance.now();
    } catch {
      // not listening yet, or the old generation going away
    }
    if (performance.now() > until) throw new Error(`no answer with version ${version} on port ${port} within ${timeoutMs} ms`);
    await sleep(2);
  }
}

/** The example apps, patched so their answer shows which version of the code runs. */
const APPS = {
  flask: {
    file: "flask_app.py",
    source: () => readFileSync(path.join(root, "examples/apps/flask_app.py"), "utf8").replace('server="flask",', 'server="flask", version=VERSION,'),
    versionLine: (v) => `VERSION = "${v}"\n`,
    argv: (dir, port) => ["python3", "-m", "flask", "--app", path.join(dir, "flask_app.py"), "run", "--port", String(port)],
  },
  node: {
    file: "node_server.js",
    source: () => readFileSync(path.join(root, "examples/apps/node_server.js"), "utf8").replace('server: "node",', 'server: "node", version: VERSION,'),
    versionLine: (v) => `const VERSION = "${v}";\n`,
    argv: (dir, port) => [NODE, path.join(dir, "node_server.js")],
    env: (port) => ({ PORT: String(port), HOST: "127.0.0.1" }),
  },
};

/** Write the app file with `version` (the "save" of a one-line edit). */
function save(dir, app, version) {
  writeFileSync(path.join(dir, app.file), app.versionLine(version) + app.src);
}

/** A process whose stdout lines we watch, with bounded waits. */
class Proc {
  constructor(cmd, args, extraEnv = {}) {
    this.lines = [];
    /** pidone's own JSON log lines (its stderr), parsed. */
    this.logs = [];
    this.waiters = new Set();
    this.stderr = "";
    this.exit = null;
    this.proc = spawn(cmd, args, { env: { ...env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
    let part = "";
    this.proc.stdout.on("data", (d) => {
      const lines = (part + d).split("\n");
      part = lines.pop();
      const at = performance.now();
      for (const l of lines) this.lines.push({ at, l });
      for (const w of this.waiters) w();
    });
    let errPart = "";
    this.proc.stderr.on("data", (d) => {
      this.stderr = (this.stderr + d).slice(-4000);
      const lines = (errPart + d).split("\n");
      errPart = lines.pop();
      for (const l of lines) {
        try {
          this.logs.push(JSON.parse(l));
        } catch {
          // not a log line
        }
      }
    });
    this.proc.on("exit", (code, signal) => {
      this.exit = { code, signal };
      for (const w of this.waiters) w();
    });
  }
  /** The first line after index `from` matching `re`: {at, l, i}. */
  wait(re, from = 0, timeoutMs = 20_000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        for (let i = from; i < this.lines.length; i++) if (re.test(this.lines[i].l)) return done(() => resolve({ ...this.lines[i], i }));
        if (this.exit) done(() => reject(new Error(`exited ${JSON.stringify(this.exit)} waiting for ${re}\n${this.stderr}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${re}\n${this.stderr}`))), timeoutMs);
      const done = (f) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        f();
      };
      this.waiters.add(check);
      check();
    });
  }
  /** SIGKILL it; under `unshare --fork`, its child first: that is PID 1 of the namespace, whose
   *  death takes everything in it along (killing unshare alone leaves them running). */
  kill() {
    if (this.exit) return;
    let children = [];
    try {
      children = readFileSync(`/proc/${this.proc.pid}/task/${this.proc.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      // gone already
    }
    for (const pid of children) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    this.proc.kill("SIGKILL");
  }
}

function run(cmd, args, extraEnv = {}) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env: { ...env, ...extraEnv }, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    c.stderr.on("data", (d) => (err += d));
    c.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")}: exit ${code}\n${err}`))));
  });
}

/** One scenario: an app under pidone, a tree of `files` files, TRIALS one-line edits each way. */
async function scenario(name, app, files) {
  const work = mkdtempSync(path.join(os.tmpdir(), "pidone-bench-sync-"));
  const local = path.join(work, "local");
  const remote = path.join(work, "remote");
  const socket = path.join(work, "pidone.sock");
  const procs = [];
  try {
    mkdirSync(local);
    mkdirSync(remote);
    app.src = app.source();
    // Filler: files-1 small source files in directories of 100.
    for (let i = 0; i < files - 1; i++) {
      const d = path.join(local, `pkg${Math.floor(i / 100)}`);
      if (i % 100 === 0) mkdirSync(d);
      writeFileSync(path.join(d, `m${i}.py`), `X = ${i}\n`);
    }
    save(local, app, "v0");
    await run("tar", ["-C", local, "-cf", path.join(work, "seed.tar"), "."]);
    await run("tar", ["-C", remote, "-xf", path.join(work, "seed.tar")]);
    const port = await freePort();
    const pid1 = new Proc("unshare", ["--pid", "--fork", "--mount-proc", NODE, BUNDLE, "--control-socket", socket, "--", ...app.argv(remote, port)], app.env?.(port) ?? {});
    procs.push(pid1);
    await newCode(port, "v0");
    const via = ["--via", `env PIDONE_CONTROL_SOCKET=${socket}`, "--remote-command", `${NODE} ${BUNDLE}`];
    const sync = new Proc(NODE, [BUNDLE, "sync", "--json", local, remote, ...via]);
    procs.push(sync);
    await sync.wait(/"event":"(in-sync|synced)"/, 0, 60_000);
    const syncPart = [];
    const syncTotal = [];
    let n = 0;
    for (let t = 0; t < TRIALS; t++) {
      const v = `s${++n}`;
      const from = sync.lines.length;
      const t0 = performance.now();
      save(local, app, v);
      const applied = await sync.wait(/"event":"applied"/, from);
      const answered = await newCode(port, v);
      syncPart.push(applied.at - t0);
      syncTotal.push(answered - t0);
      await sync.wait(/"event":"synced"/, applied.i); // the up-watch ends before the next edit
      await sleep(50);
    }
    sync.kill();
    // Today's loop: tar the tree over the same transport, then `pidone restart`.
    const tarTotal = [];
    for (let t = 0; t < TRIALS; t++) {
      const v = `t${++n}`;
      const t0 = performance.now();
      save(local, app, v);
      await run("sh", ["-c", `tar -C "$1" -cf - . | env PIDONE_CONTROL_SOCKET="$3" tar -C "$2" -xf - && env PIDONE_CONTROL_SOCKET="$3" "$4" "$5" restart --settle 0`, "sh", local, remote, socket, NODE, BUNDLE]);
      const answered = await newCode(port, v);
      tarTotal.push(answered - t0);
      await sleep(350);
    }
    return { name, files, syncPart, syncTotal, tarTotal };
  } finally {
    for (const p of procs) p.kill();
    await sleep(100);
    rmSync(work, { recursive: true, force: true });
  }
}

/** The preload list of bench/preload.mjs: Flask's whole import set, so no generation falls back to a cold start. */
const FLASK_PRELOAD = "flask,flask.cli,dotenv,importlib.metadata";
/** The parts of the whole loop, in order; each a difference of two stamps (see startLoop). */
const PARTS = ["detect", "batching", "send", "apply", "request", "restart", "first answer"];

/** Set up the whole loop at its best: Flask with --preload under pidone as PID 1, `pidone sync` over the
 *  local transport; each trial is a one-line edit, from the save to the first answer with the new code, and
 *  its parts from the sender's `applied` event (seenAt, takenAt, committedAt, appliedAt: wall
 *  clock) and pidone's `restart-requested` and `restart` log lines: detect = save -> the sender sees
 *  the change; batching = seen -> the batch taken; send = taken -> commit sent; apply = commit sent
 *  -> `applied` back (the receiver's staging and renames); request = `applied` -> pidone has the
 *  restart request (the receiver's control requests); restart = -> pidone logs the new generation
 *  (the old one's stop, the zygote's fork); first answer = -> the first HTTP answer with the new
 *  code (Flask's own start, polled every 2 ms). Returns the row, with `trial(t)` (one edit) and `close()`. */
async function startLoop(label, syncArgs) {
  const app = APPS.flask;
  const work = mkdtempSync(path.join(os.tmpdir(), "pidone-bench-loop-"));
  const local = path.join(work, "local");
  const remote = path.join(work, "remote");
  const socket = path.join(work, "pidone.sock");
  const procs = [];
  const close = async () => {
    for (const p of procs) p.kill();
    await sleep(100);
    rmSync(work, { recursive: true, force: true });
  };
  const wall = () => performance.timeOrigin + performance.now();
  try {
    mkdirSync(local);
    mkdirSync(remote);
    app.src = app.source();
    save(local, app, "v0");
    save(remote, app, "v0");
    const port = await freePort();
    const pid1 = new Proc("unshare", ["--pid", "--fork", "--mount-proc", NODE, BUNDLE, "--control-socket", socket, "--preload", FLASK_PRELOAD, "--", ...app.argv(remote, port)], { PIDONE_LOG_LEVEL: "info" });
    procs.push(pid1);
    await newCode(port, "v0");
    const via = ["--via", `env PIDONE_CONTROL_SOCKET=${socket}`, "--remote-command", `${NODE} ${BUNDLE}`];
    const sync = new Proc(NODE, [BUNDLE, "sync", "--json", ...syncArgs, local, remote, ...via]);
    procs.push(sync);
    await sync.wait(/"event":"(in-sync|synced)"/, 0, 60_000);
    const r = { label, total: [], parts: Object.fromEntries(PARTS.map((k) => [k, []])), batches: 0, close };
    /** One edit, timed; adds to r. */
    r.trial = async (t) => {
      const v = `l${t}`;
      const from = sync.lines.length;
      const logsBefore = pid1.logs.length;
      const t0 = wall();
      save(local, app, v);
      const applied = await sync.wait(/"event":"applied"/, from);
      const answered = performance.timeOrigin + (await newCode(port, v));
      await sync.wait(/"event":"synced"/, applied.i);
      const a = JSON.parse(applied.l);
      const logged = (event) => pid1.logs.slice(logsBefore).find((e) => e.event === event) ?? Promise.reject(new Error(`no ${event} line from pidone for edit ${v}`));
      const [requested, restarted] = await Promise.all([logged("restart-requested"), logged("restart")]);
      r.total.push(answered - t0);
      const stamps = [t0, a.seenAt, a.takenAt, a.committedAt, a.appliedAt, requested.time, restarted.time, answered];
      PARTS.forEach((k, i) => r.parts[k].push(stamps[i + 1] - stamps[i]));
      // Let a batch that came late (an extra event) show before the next edit.
      await sleep(300);
      r.batches += sync.lines.slice(from).filter((x) => /"event":"applied"/.test(x.l)).length;
    };
    return r;
  } catch (err) {
    await close();
    throw err;
  }
}

/** The whole-loop rows: default batching, and `--debounce 50ms` (a fixed 50 ms quiet window)
 *  beside it; both set up at once and their edits interleaved, so both see the same machine. */
export async function loopRows() {
  const modes = [["default", []], ["--debounce 50ms", ["--debounce", "50ms"]]];
  log(`whole loop, Flask --preload, ${modes.map((m) => m[0]).join(" and ")} interleaved, ${TRIALS} edits each`);
  const loops = [];
  try {
    for (const [label, args] of modes) loops.push(await startLoop(label, args));
    for (let t = 0; t < TRIALS; t++) {
      // Alternate which goes first.
      for (const l of t % 2 ? [...loops].reverse() : loops) await l.trial(t);
    }
    return loops;
  } catch (err) {
    log(`FAILED whole loop: ${err.message}`);
    return [];
  } finally {
    for (const l of loops) await l.close();
  }
}

const ms = (x) => `${x.toFixed(0)} ms`;
const p = (xs, q) => percentile(xs, q);

/** Run the section; returns its markdown. */
export async function syncBench() {
  const when = `Run of ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, load average ${os.loadavg()[0].toFixed(1)} at its start.`;
  const loop = await loopRows();
  const results = [];
  for (const [name, app, files] of [["flask_app.py", APPS.flask, 10], ["node_server.js", APPS.node, 10], ["node_server.js", APPS.node, 10_000]]) {
    log(`${name}, ${files}-file tree, ${TRIALS} edits each way`);
    try {
      results.push(await scenario(name, app, files));
    } catch (err) {
      log(`FAILED ${name} ${files}: ${err.message}`);
    }
  }
  const rows = results.map((r) => [
    r.name, String(r.files),
    `${ms(p(r.syncPart, 50))} / ${ms(p(r.syncPart, 95))}`,
    `${ms(p(r.syncTotal, 50))} / ${ms(p(r.syncTotal, 95))}`,
    `${ms(p(r.tarTotal, 50))} / ${ms(p(r.tarTotal, 95))}`,
  ]);
  const pp = (xs) => `${ms(p(xs, 50))} / ${ms(p(xs, 95))}`;
  const loopRowsMd = loop.map((r) => [r.label, pp(r.total), ...PARTS.map((k) => pp(r.parts[k])), `${r.batches} / ${r.total.length}`]);
  const loopMd = `${when}\n\n### The whole loop: save to the first answer with the new code\n\nFlask (examples/apps/flask_app.py) with \`--preload ${FLASK_PRELOAD}\` under pidone as PID 1, \`pidone sync --json\` over the local transport, ${TRIALS} one-line edits per row, the two rows' edits interleaved (both set up at once); p50 / p95 of each column (a part's p50s need not add up to the total's). detect: save -> the sender sees it; batching: -> the batch is taken; send: -> its commit is sent; apply: -> the receiver's \`applied\` is back; request: -> pidone has the restart request; restart: -> pidone logs the new generation (old one stopped, zygote forked); first answer: -> the first HTTP answer with the new code. Target: p50 <= 80 ms.\n\n${table(["batching", "save -> new code", ...PARTS, "batches / edits"], loopRowsMd)}\n\n`;
  return `${loopMd}### Inner loop: edit to new code (\`pidone sync\`)\n\n${TRIALS} one-line edits per row, local transport; p50 / p95. "sync part" = save -> the receiver asks pidone for the restart.\n\n${table(["app", "files in tree", "sync part", "save -> new code (pidone sync)", "save -> new code (tar + pidone restart)"], rows)}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const md = await syncBench();
  process.stdout.write(`${md}\n`);
  writeFileSync(path.join(here, "RESULTS-sync.md"), `${md}\n`);
  log("wrote bench/RESULTS-sync.md");
}
