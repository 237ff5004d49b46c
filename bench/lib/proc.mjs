// Reading what the benchmark measures from /proc (host pids, read from outside the namespace).
import { readFileSync, readdirSync } from "node:fs";

function read(file) {
  try {
    return readFileSync(file, "latin1");
  } catch {
    return null;
  }
}

/** Thread ids of a process ([] once it is gone). */
export function tasks(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
}

/** Direct children of a process, over all its threads. */
export function childrenOf(pid) {
  const out = [];
  for (const tid of tasks(pid)) {
    const text = read(`/proc/${pid}/task/${tid}/children`);
    if (text) for (const p of text.split(" ")) if (p.trim()) out.push(Number(p));
  }
  return out;
}

/** The command name (comm) of a process, or null. */
export function comm(pid) {
  return read(`/proc/${pid}/comm`)?.trim() ?? null;
}

/** CPU time (ns on CPU, from schedstat) and context switches, summed over every thread. */
export function taskTotals(pid) {
  let cpuNs = 0;
  let voluntary = 0;
  let involuntary = 0;
  const tids = tasks(pid);
  for (const tid of tids) {
    const sched = read(`/proc/${pid}/task/${tid}/schedstat`);
    if (sched) cpuNs += Number(sched.split(" ")[0]);
    const status = read(`/proc/${pid}/task/${tid}/status`) ?? "";
    voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  }
  return { cpuNs, voluntary, involuntary, threads: tids.length };
}

/** Resident and proportional set size in KiB (VmRSS from status, Pss from smaps_rollup). */
export function memory(pid) {
  const status = read(`/proc/${pid}/status`) ?? "";
  const rollup = read(`/proc/${pid}/smaps_rollup`) ?? "";
  return {
    rssKiB: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN),
    pssKiB: Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? NaN),
  };
}

/** One line of /proc/cpuinfo's "model name". */
export function cpuModel() {
  return /^model name\s*:\s*(.+)$/m.exec(read("/proc/cpuinfo") ?? "")?.[1]?.trim() ?? "unknown";
}
