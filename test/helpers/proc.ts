// Host-side views of a namespace's processes, read from /proc (tests never use ps either).
import { readFileSync, readdirSync } from "node:fs";

export interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  state: string;
  comm: string;
  cmdline: string;
}

export function readProc(pid: number): Proc | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    const f = stat.slice(close + 2).split(" ");
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").filter(Boolean).join(" ");
    } catch {
      // zombie or gone
    }
    return { pid, ppid: Number(f[1]), pgid: Number(f[2]), sid: Number(f[3]), state: f[0] as string, comm: stat.slice(open + 1, close), cmdline };
  } catch {
    return null;
  }
}

export function allProcs(): Proc[] {
  const out: Proc[] = [];
  for (const n of readdirSync("/proc")) {
    if (!/^\d+$/.test(n)) continue;
    const p = readProc(Number(n));
    if (p) out.push(p);
  }
  return out;
}

/** Every descendant of `root` (host pids). */
export function descendants(root: number): Proc[] {
  const table = allProcs();
  const out: Proc[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop() as number;
    for (const p of table) if (p.ppid === pid) {
      out.push(p);
      stack.push(p.pid);
    }
  }
  return out;
}

export function zombies(root: number): Proc[] {
  return descendants(root).filter((p) => p.state === "Z");
}

export function alive(pid: number): boolean {
  const p = readProc(pid);
  return p !== null && p.state !== "Z";
}

/** What a failed wait should show: each process below `root` (and `root`) with its state, its
 *  signal masks and where it sleeps, so a stall can be told apart from a lost signal. */
export function processReport(root: number): string {
  const rows = [readProc(root), ...descendants(root)].filter((p): p is Proc => p !== null).map((p) => {
    let masks = "";
    try {
      const status = readFileSync(`/proc/${p.pid}/status`, "latin1");
      masks = ["SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"].map((f) => `${f}=${new RegExp(`^${f}:\\s*(\\S+)`, "m").exec(status)?.[1] ?? "?"}`).join(" ");
    } catch {
      masks = "(gone)";
    }
    let wchan = "?";
    try {
      wchan = readFileSync(`/proc/${p.pid}/wchan`, "latin1") || "0";
    } catch {
      // gone
    }
    return `  ${p.pid} ppid=${p.ppid} pgid=${p.pgid} sid=${p.sid} ${p.state} wchan=${wchan} ${masks} ${p.cmdline.slice(0, 120)}`;
  });
  return `--- processes (host pids) ---\n${rows.join("\n") || "  (none)"}`;
}
