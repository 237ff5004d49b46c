// Reading the process table from /proc: the only way to find processes in images that have
// no ps, pgrep or kill binaries. Never shells out.
import { readdirSync, readFileSync } from "node:fs";

/** Read a /proc file as text. procfs reports size 0, so readFileSync with any encoding but
 *  utf8 reads it through fresh 64 KiB Buffers (two per file: the read, then the empty read
 *  that finds the end); utf8 takes Node's native path (20.8+), which allocates none. Measured
 *  with the soak (bench/soak.mjs): the reaper reads its children list on every SIGCHLD, and
 *  those Buffers were garbage the heap sized itself for, up to 8 MB of PID 1's RSS at rest.
 *  The fields pidone reads are ASCII; a non-UTF-8 byte in a command name only becomes U+FFFD. */
function readProc(file: string): string {
  return readFileSync(file, "utf8");
}

/** One line of /proc/PID/stat, the fields pidone needs. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** Session id. */
  sid: number;
  state: string;
}

/** Parse /proc/PID/stat. The command name may hold spaces and parentheses: split after the last ')'. */
export function parseStat(text: string): ProcInfo | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const pid = Number.parseInt(text, 10);
  const rest = text.slice(close + 2).split(" ");
  const [state, ppid, pgid, sid] = [rest[0], Number(rest[1]), Number(rest[2]), Number(rest[3])];
  if (!state || !Number.isFinite(pid) || !Number.isFinite(ppid) || !Number.isFinite(pgid)) return null;
  return { pid, ppid, pgid, sid: Number.isFinite(sid) ? sid : 0, state };
}

/** Visit every process visible in /proc (a PID namespace shows only its own) as it is read, in
 *  the order /proc lists them (ascending pids). */
export function eachProcess(visit: (p: ProcInfo) => void): void {
  for (const name of readdirSync("/proc")) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    let info: ProcInfo | null;
    try {
      info = parseStat(readProc(`/proc/${name}/stat`));
    } catch {
      continue; // The process exited between readdir and read: nothing to do.
    }
    if (info) visit(info);
  }
}

/** Every process visible in /proc (a PID namespace shows only its own). */
export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  eachProcess((p) => out.push(p));
  return out;
}

/** All descendants of `root` (not `root` itself), by following parent links. */
export function descendantsOf(root: number, table: ProcInfo[] = listProcesses()): ProcInfo[] {
  const children = new Map<number, ProcInfo[]>();
  for (const p of table) {
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  const out: ProcInfo[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    for (const child of children.get(pid) ?? []) {
      out.push(child);
      stack.push(child.pid);
    }
  }
  return out;
}

/** Does `pid` have a handler for signal number `signo`? (SigCgt in /proc/PID/status.) */
export function catchesSignal(pid: number, signo: number): boolean {
  try {
    return maskHas(readProc(`/proc/${pid}/status`), "SigCgt", signo) === true;
  } catch {
    return false;
  }
}

/** How a process stands with one signal, as /proc/PID/status tells it. */
export interface SignalStanding {
  /** The process state, e.g. "S (sleeping)", "T (stopped)", "D (disk sleep)". */
  state: string;
  /** What it does with the signal: "caught" (a handler), "ignored", or "default". */
  handling: "caught" | "ignored" | "default";
  /** Blocked by the thread that status describes (the main thread). */
  blocked: boolean;
  /** Sent and not yet delivered (to the thread or to the process). */
  pending: boolean;
}

/** Parse /proc/PID/status for `signo`; null if a field is missing. */
export function parseSignalStanding(status: string, signo: number): SignalStanding | null {
  const state = /^State:\s*(.+)$/m.exec(status)?.[1];
  const [caught, ignored, blocked, pending, shared] = (["SigCgt", "SigIgn", "SigBlk", "SigPnd", "ShdPnd"] as const)
    .map((field) => maskHas(status, field, signo));
  if (state === undefined || [caught, ignored, blocked, pending, shared].includes(null)) return null;
  return {
    state: state.trim(),
    handling: caught ? "caught" : ignored ? "ignored" : "default",
    blocked: blocked === true,
    pending: pending === true || shared === true,
  };
}

/** How `pid` stands with signal number `signo` now; null if it is gone or /proc says nothing. */
export function signalStanding(pid: number, signo: number): SignalStanding | null {
  try {
    return parseSignalStanding(readProc(`/proc/${pid}/status`), signo);
  } catch {
    return null;
  }
}

/** Is bit `signo` set in the hex mask of `field`? Null if the field is missing. */
function maskHas(status: string, field: string, signo: number): boolean | null {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, "m").exec(status);
  return m === null ? null : ((BigInt(`0x${m[1]}`) >> BigInt(signo - 1)) & 1n) === 1n;
}

let childrenFileWorks: boolean | null = null;

/** Direct children of this process, zombies included. Reads only this process's own children
 *  list (CONFIG_PROC_CHILDREN), not all of /proc: this runs on every SIGCHLD. Orphans are
 *  re-parented to the main thread, and libuv forks from it, so the main task's list is complete. */
export function directChildren(): number[] {
  if (childrenFileWorks !== false) {
    try {
      const text = readProc(`/proc/self/task/${process.pid}/children`);
      childrenFileWorks = true;
      const out: number[] = [];
      for (const part of text.split(" ")) if (part) out.push(Number(part));
      return out;
    } catch {
      childrenFileWorks = false;
    }
  }
  // Kernels without CONFIG_PROC_CHILDREN: the slow way.
  return listProcesses().filter((p) => p.ppid === process.pid).map((p) => p.pid);
}
