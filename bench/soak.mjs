// The long run: one pidone as PID 1 of a fresh PID namespace, restarted 10,000 times from every
// source in turn (SIGUSR1 to PID 1, the trigger file, the control socket, a --watch'ed file), each
// request sent only once the previous restart is done, so one request is one restart. Checks that
// PID 1 stays flat (RSS, open fds), leaves no zombie and misses no restart. Prints a table, writes
// bench/SOAK.md, exits 1 if a target is missed. See bench/README.md ("Long runs").
//
//   SOAK_RESTARTS=N      restarts (default 10000)
//   SOAK_SAMPLE=N        sample PID 1 every N restarts (default 500)
//   SOAK_NODE_ARGS="…"   extra node flags for pidone (experiments only, e.g. --trace-gc)
//   SOAK_IDLE_S=N        after the last restart, print PID 1's RSS every second for N s
//   SOAK_NO_WRITE=1      do not write bench/SOAK.md (only a full 10,000-restart run writes it)
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { childrenOf, cpuModel, memory } from "./lib/proc.mjs";
import { deadline } from "./lib/instance.mjs";
import { fmtNum, table } from "./lib/stats.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const RESTARTS = Number(process.env.SOAK_RESTARTS ?? 10_000);
const SAMPLE = Number(process.env.SOAK_SAMPLE ?? 500);
const NODE_ARGS = (process.env.SOAK_NODE_ARGS ?? "").split(" ").filter(Boolean);
/** The first sample is taken after start-up allocations settled; growth is measured from it. */
const BASE_AT = 100;
const RSS_SLACK_KIB = 5 * 1024;
/** Every watched-file change is debounced: this source is the slowest, so it gets every 8th turn. */
const SOURCES = ["signal", "trigger-file", "control", "signal", "trigger-file", "control", "signal", "watch"];
const STEP_TIMEOUT_MS = 10_000;

const log = (s) => process.stderr.write(`soak: ${s}\n`);

// Others may rebuild dist/ while this runs: run a private copy of the bundle and koffi.
const work = mkdtempSync(path.join(os.tmpdir(), "pidone-soak-"));
cpSync(path.join(root, "dist"), path.join(work, "dist"), { recursive: true });
const BUNDLE = path.join(work, "dist", "pidone.cjs");
const cwd = path.join(work, "app");
const watched = path.join(cwd, "watched");
mkdirSync(watched, { recursive: true });
// chokidar drops a second 'change' of one file within 50 ms of the first (its change throttle):
// take turns over several files, so that each is written at most every 8 watch turns.
const watchedFiles = Array.from({ length: 8 }, (_, i) => path.join(watched, `file-${i}.txt`));
for (const f of watchedFiles) writeFileSync(f, "0\n");
const SOCKET = path.join(work, "pidone.sock");
const TRIGGER = path.join(cwd, ".restart_trigger");

const env = { ...process.env, PIDONE_LOG_FORMAT: "json", PIDONE_CONTROL_SOCKET: SOCKET };
// NODE_OPTIONS would change what runs; NODE_EXTRA_CA_CERTS costs every Node start ~90 ms here.
for (const k of Object.keys(env)) if (k.startsWith("PIDONE_") && !["PIDONE_LOG_FORMAT", "PIDONE_CONTROL_SOCKET"].includes(k)) delete env[k];
delete env.NODE_OPTIONS;
delete env.NODE_EXTRA_CA_CERTS;

const unshareArgs = process.getuid?.() === 0 ? [] : ["--user", "--map-root-user"];
const pidoneArgs = [
  "--max-restarts", "1000000", "--trigger-file", TRIGGER, "--watch", watched, "--debounce", "10ms", "--", "sleep", "infinity",
];
const proc = spawn("unshare", [...unshareArgs, "--pid", "--fork", "--mount-proc", process.execPath, ...NODE_ARGS, BUNDLE, ...pidoneArgs], {
  cwd, env, stdio: ["ignore", "inherit", "pipe"],
});

// pidone's log: count events by name, remember every restart, wake whoever waits.
const counts = new Map();
const restarts = [];
let tail = [];
let waiter = null;
let exited = null;
let partial = "";
proc.stderr.on("data", (d) => {
  partial += d.toString("utf8");
  const lines = partial.split("\n");
  partial = lines.pop();
  for (const line of lines) {
    tail.push(line);
    if (tail.length > 40) tail = tail.slice(-20);
    if (!line.startsWith("{")) continue;
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      continue;
    }
    counts.set(ev.event, (counts.get(ev.event) ?? 0) + 1);
    if (ev.event === "restart") restarts.push(ev);
  }
  waiter?.();
});
proc.on("exit", (code, signal) => {
  exited = { code, signal };
  waiter?.();
});

/** Resolve once `probe()` is true (checked on every log line), or fail after `ms`. */
function until(probe, what, ms = STEP_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`timed out after ${ms} ms waiting for ${what}`), ms);
    const fail = (why) => {
      clearTimeout(timer);
      waiter = null;
      reject(new Error(`${why}\n--- pidone's last log lines\n${tail.slice(-10).join("\n")}`));
    };
    waiter = () => {
      if (probe()) {
        clearTimeout(timer);
        waiter = null;
        resolve();
      } else if (exited) fail(`pidone exited (${JSON.stringify(exited)}) while waiting for ${what}`);
    };
    waiter();
  });
}

/** One request over the control socket, its protocol spoken directly: a JSON line each way. */
function control(request) {
  return deadline(new Promise((resolve, reject) => {
    const c = net.connect(SOCKET);
    let buf = "";
    c.setEncoding("utf8");
    c.on("connect", () => c.write(`${JSON.stringify(request)}\n`));
    c.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      c.destroy();
      try {
        resolve(JSON.parse(buf.slice(0, nl)));
      } catch {
        reject(new Error(`control socket: not JSON: ${buf.slice(0, 200)}`));
      }
    });
    c.on("error", reject);
    c.on("close", () => reject(new Error(`control socket closed without an answer (${buf.slice(0, 200)})`)));
  }), STEP_TIMEOUT_MS, `the control socket's answer to ${request.cmd}`);
}

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "latin1");
    return text.slice(text.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return null;
  }
}

/** Every process of the namespace (PID 1's descendants, host pids) and how many are zombies. */
function namespaceProcs(pid1) {
  const all = [];
  const stack = [pid1];
  while (stack.length > 0) {
    const pid = stack.pop();
    for (const child of childrenOf(pid)) {
      all.push(child);
      stack.push(child);
    }
  }
  return { count: all.length, zombies: all.filter((p) => readStat(p) === "Z").length };
}

/** PID 1's open descriptors, each as "fd -> target". */
function fdList(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try {
        return `${fd} -> ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`;
      } catch {
        return `${fd} -> (closed)`;
      }
    });
  } catch {
    return [];
  }
}

const fdCount = (pid) => fdList(pid).length;

/** The descriptor count once it holds still: a watcher's directory scan or a control connection
 *  the client just closed can hold one for a few ms. Polls /proc (nothing announces a close),
 *  until `target` is reached or two reads 50 ms apart agree; at most 1 s. */
async function settledFds(pid, target) {
  let last = fdCount(pid);
  for (let t = 0; t < 20 && last !== target; t++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = fdCount(pid);
    if (target === undefined && now === last) break;
    last = now;
  }
  return last;
}

async function sample(pid1, at, fdTarget) {
  const { rssKiB } = memory(pid1);
  const { zombies, count } = namespaceProcs(pid1);
  return { at, rssKiB, fds: await settledFds(pid1, fdTarget), procs: count, zombies };
}

let pid1 = null;
const samples = [];
const bySource = Object.fromEntries(SOURCES.map((s) => [s, 0]));
const failures = [];
const began = Date.now();
let lastPid = null;
let ended = 0;

try {
  await until(() => counts.get("ready") > 0, "pidone's 'ready' line", 30_000);
  const kids = childrenOf(proc.pid);
  if (kids.length !== 1) throw new Error(`expected unshare to have one child, found [${kids.join(" ")}]`);
  pid1 = kids[0];
  for (let i = 1; i <= RESTARTS; i++) {
    const source = SOURCES[i % SOURCES.length];
    const before = restarts.length;
    let answer = null;
    if (source === "signal") process.kill(pid1, "SIGUSR1");
    else if (source === "trigger-file") writeFileSync(TRIGGER, "");
    else if (source === "watch") writeFileSync(watchedFiles[bySource.watch % watchedFiles.length], `${i}\n`);
    else answer = control({ cmd: "restart", timeoutMs: 30_000 });
    await until(() => restarts.length > before, `restart ${i} (by ${source})`);
    const ev = restarts[before];
    if (answer) {
      const a = await answer;
      if (a.ok !== true || a.pid !== ev.newPid) failures.push(`restart ${i}: control answered ${JSON.stringify(a)}, the log says newPid ${ev.newPid}`);
    }
    if (ev.source !== source) failures.push(`restart ${i}: asked by ${source}, logged as by ${ev.source}`);
    if (lastPid !== null && ev.oldPid !== lastPid) failures.push(`restart ${i}: oldPid ${ev.oldPid}, the previous generation was ${lastPid}`);
    lastPid = ev.newPid;
    bySource[source]++;
    ended = i;
    if (i === BASE_AT || i % SAMPLE === 0 || i === RESTARTS) {
      const s = await sample(pid1, i, samples[0]?.fds);
      samples.push(s);
      const rate = (i / ((Date.now() - began) / 1000)).toFixed(0);
      log(`${i} restarts: RSS ${(s.rssKiB / 1024).toFixed(1)} MiB, ${s.fds} fds, ${s.procs} processes, ${s.zombies} zombies (${rate}/s)`);
    }
  }
  // A request that gave two generations shows up as an extra restart: ask pidone how many it did.
  const status = await control({ cmd: "status" });
  if (status.status?.restarts !== RESTARTS) failures.push(`pidone counts ${status.status?.restarts} restarts, ${RESTARTS} were requested`);
} catch (err) {
  failures.push(err.message);
}
const elapsedS = (Date.now() - began) / 1000;
if (process.env.SOAK_IDLE_S && pid1 !== null) {
  for (let t = 1; t <= Number(process.env.SOAK_IDLE_S); t++) {
    await new Promise((r) => setTimeout(r, 1000));
    log(`idle ${t} s: RSS ${(memory(pid1).rssKiB / 1024).toFixed(1)} MiB`);
  }
}

// Zombies at the end: the old generations are gone, only the last `sleep` is left.
const baseFds = samples.find((s) => s.at === BASE_AT)?.fds;
const end = pid1 === null ? null : await sample(pid1, ended, baseFds);
const endFdList = pid1 === null ? [] : fdList(pid1);
try {
  if (pid1 !== null) process.kill(pid1, "SIGTERM");
  await deadline(new Promise((r) => (exited ? r() : proc.once("exit", r))), 10_000, "pidone to exit");
} catch {
  proc.kill("SIGKILL");
}
rmSync(work, { recursive: true, force: true });

const base = samples.find((s) => s.at === BASE_AT);
const newPids = new Set(restarts.map((r) => r.newPid));
const checks = [];
const half = samples.find((s) => s.at >= RESTARTS / 2);
if (base && half && end) {
  // A leak grows with every restart; V8's one-off sizing (JIT code, heap limits) does not. So the
  // target is the second half of the run; the whole run from restart 100 is shown beside it.
  const mib = (kib) => `${kib >= 0 ? "+" : ""}${fmtNum(kib / 1024)}`;
  checks.push([`PID 1's RSS, restart ${half.at} -> ${end.at}`, `${fmtNum(half.rssKiB / 1024)} -> ${fmtNum(end.rssKiB / 1024)} MiB (${mib(end.rssKiB - half.rssKiB)})`, "within 5 MiB", end.rssKiB - half.rssKiB <= RSS_SLACK_KIB]);
  checks.push([`PID 1's RSS, restart ${BASE_AT} -> ${end.at}`, `${fmtNum(base.rssKiB / 1024)} -> ${fmtNum(end.rssKiB / 1024)} MiB (${mib(end.rssKiB - base.rssKiB)})`, "(shown)", true]);
  checks.push([`PID 1's open fds, restart ${BASE_AT} -> ${end.at}`, `${base.fds} -> ${end.fds}`, "equal", base.fds === end.fds]);
  if (base.fds !== end.fds) failures.push(`PID 1's descriptors at the end: ${endFdList.join(", ")}`);
  checks.push(["zombies in the namespace at the end", `${end.zombies} (of ${end.procs} processes)`, "0", end.zombies === 0]);
} else {
  checks.push(["samples", "missing (the run stopped early)", "", false]);
}
checks.push(["restarts: requested / logged / distinct new pids", `${RESTARTS} / ${restarts.length} / ${newPids.size}`, "all equal", restarts.length === RESTARTS && newPids.size === RESTARTS]);
checks.push(["requests answered wrongly or lost", `${failures.length}`, "0", failures.length === 0]);
const ok = checks.every((c) => c[3]);

const md = [
  "# pidone soak results",
  "",
  `- date: ${new Date().toISOString()}`,
  `- node: ${process.version}; kernel: ${os.release()}; CPU: ${cpuModel()} x ${os.cpus().length}`,
  `- ${RESTARTS} restarts of \`sleep infinity\` in ${elapsedS.toFixed(0)} s (${(RESTARTS / elapsedS).toFixed(0)}/s), each request sent after the previous restart was logged; by source: ${Object.entries(bySource).map(([k, v]) => `${k} ${v}`).join(", ")}`,
  "- pidone as PID 1 of a fresh PID namespace, log level info, JSON logs to a pipe; `--max-restarts 1000000 --watch DIR --debounce 10ms`",
  "",
  table(["check", "measured", "target", "met"], checks.map(([a, b, c, d]) => [a, b, c, c === "(shown)" ? "" : d ? "yes" : "**no**"])),
  "",
  `PID 1 every ${SAMPLE} restarts:`,
  "",
  table(["restarts", "RSS (MiB)", "fds", "processes", "zombies"], samples.map((s) => [String(s.at), fmtNum(s.rssKiB / 1024), String(s.fds), String(s.procs), String(s.zombies)])),
  ...(failures.length > 0 ? ["", "Failures:", "", ...failures.slice(0, 20).map((f) => `- ${f.split("\n")[0]}`)] : []),
].join("\n");

process.stdout.write(`${md}\n`);
if (failures.length > 0) log(failures.slice(0, 5).join("\n"));
if (process.env.SOAK_NO_WRITE !== "1" && RESTARTS >= 10_000) {
  writeFileSync(path.join(here, "SOAK.md"), `${md}\n`);
  log("wrote bench/SOAK.md");
}
log(`${ok ? "all targets met" : "TARGET MISSED"} in ${elapsedS.toFixed(0)} s`);
process.exit(ok ? 0 : 1);
