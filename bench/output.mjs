// Output capture (pidone only): an app writes 512 MiB to stdout into a pipe (dd, 64 KiB writes, after 0.5 s)
// read by a consumer (bench/c/drain.c, timing from its first byte to the end), straight and
// through pidone as PID 1, which forwards the bytes and keeps the last of them in its ring.
// Trials alternate; the result is the throughput ratio, and pidone's RSS growth while it forwards.
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";

const MIB = 1024 * 1024;
/** How long the app sleeps before it writes (see trial). */
const BOOT_S = 0.5;

/** VmRSS of `pid` in KiB, or null once it is gone. */
function rss(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "latin1"))[1]);
  } catch {
    return null;
  }
}

function childOf(pid) {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").trim().split(/\s+/).filter(Boolean);
    return kids.length === 1 ? Number(kids[0]) : null;
  } catch {
    return null;
  }
}

/** One trial: the writer's argv (run under `prefix`), into a fifo read by drain. */
async function trial({ prefix, drain, work, mib, sampleRss }) {
  const fifo = path.join(work, `out-${process.hrtime.bigint()}`);
  execFileSync("mkfifo", [fifo]);
  const reader = spawn("sh", ["-c", `exec "$0" < "$1"`, drain, fifo], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  reader.stdout.on("data", (d) => (out += d));
  const fd = openSync(fifo, "w");
  // The app waits half a second before it writes, so that pidone has started (its RSS grows
  // while node boots) before the base of its RSS growth is taken.
  const app = ["sh", "-c", `sleep ${BOOT_S}; exec dd if=/dev/zero bs=64K count=${(mib * MIB) / 65536} status=none`];
  const t0 = Date.now();
  const writer = spawn(prefix[0], [...prefix.slice(1), ...app], { stdio: ["ignore", fd, "inherit"] });
  closeSync(fd);
  let base = null;
  let peak = 0;
  const sampler = sampleRss ? setInterval(() => {
    const pidone = childOf(writer.pid);
    const kib = pidone === null ? null : rss(pidone);
    if (kib === null) return;
    if (Date.now() - t0 < BOOT_S * 900) base = kib;
    else peak = Math.max(peak, kib);
  }, 20) : null;
  await Promise.all([new Promise((r) => writer.on("exit", r)), new Promise((r) => reader.on("exit", r))]);
  if (sampler) clearInterval(sampler);
  rmSync(fifo, { force: true });
  const { bytes, ns } = JSON.parse(out);
  if (bytes !== mib * MIB) throw new Error(`the consumer read ${bytes} bytes, not ${mib * MIB}`);
  return { ns, rssGrowthKiB: base === null ? null : peak - base };
}

/** Run `trials` pairs; returns the throughputs (MiB/s) and pidone's RSS growth per trial. */
export async function outputBench({ NODE, BUNDLE, drain, work, trials, mib = 512, unshareArgs = [], log }) {
  const pidone = ["unshare", ...unshareArgs, "--pid", "--fork", "--mount-proc", NODE, BUNDLE, "--no-control-socket", "--no-trigger-file", "--restart", "never", "--log-level", "warn", "--"];
  const res = { direct: [], pidone: [], rssGrowthKiB: [] };
  for (let i = 0; i < trials; i++) {
    const d = await trial({ prefix: ["env"], drain, work, mib, sampleRss: false });
    const p = await trial({ prefix: pidone, drain, work, mib, sampleRss: true });
    res.direct.push((mib * 1e9) / d.ns);
    res.pidone.push((mib * 1e9) / p.ns);
    if (p.rssGrowthKiB !== null) res.rssGrowthKiB.push(p.rssGrowthKiB);
    log(`output: trial ${i + 1}/${trials}: direct ${res.direct[i].toFixed(0)} MiB/s, through pidone ${res.pidone[i].toFixed(0)} MiB/s`);
  }
  return res;
}
