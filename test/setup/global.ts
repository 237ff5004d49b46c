// The suite's global setup and teardown: every process a test starts inherits (or is given) the
// run's marker in its environment; at the end, any marked process still running is reported,
// killed, and fails the run. Also the run's shared directory (mode 0755) for what tests run as
// another user.
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { FILE_MARKER, RUN_MARKER } from "../helpers/process.js";
import { SHARED_DIR } from "../helpers/readable.js";

/** A process of this run still alive: its pid, command line and the test file that started it. */
interface Leftover {
  pid: number;
  cmdline: string;
  file: string;
}

/** The environment of `pid` as a map, or null if it is gone, a zombie or unreadable. */
function environOf(pid: number): Map<string, string> | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return null;
    const env = new Map<string, string>();
    for (const kv of readFileSync(`/proc/${pid}/environ`, "latin1").split("\0")) {
      const eq = kv.indexOf("=");
      if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
    return env;
  } catch {
    return null;
  }
}

/** Every live process carrying `runId`, except vitest itself (this process and its workers). */
function leftovers(runId: string): Leftover[] {
  const out: Leftover[] = [];
  for (const n of readdirSync("/proc")) {
    if (!/^\d+$/.test(n) || Number(n) === process.pid) continue;
    const env = environOf(Number(n));
    if (env?.get(RUN_MARKER) !== runId) continue;
    let cmdline = "";
    let ppid = 0;
    try {
      cmdline = readFileSync(`/proc/${n}/cmdline`, "latin1").split("\0").filter(Boolean).join(" ");
      const stat = readFileSync(`/proc/${n}/stat`, "latin1");
      ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      continue;
    }
    if (ppid === process.pid && /vitest/.test(cmdline)) continue;
    out.push({ pid: Number(n), cmdline, file: env.get(FILE_MARKER) ?? "(unknown test file)" });
  }
  return out;
}

const killAll = (procs: readonly Leftover[]) => {
  for (const p of procs) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
};

export default function setup(): () => Promise<void> {
  const runId = `${process.pid}-${Date.now()}`;
  process.env[RUN_MARKER] = runId;
  const shared = mkdtempSync(path.join(tmpdir(), "pidone-test-shared-"));
  chmodSync(shared, 0o755);
  process.env[SHARED_DIR] = shared;

  return async () => {
    // A process killed by a test's cleanup can take a moment to be gone (a namespace's last
    // processes die after its PID 1): look again for at most 3 s before calling it left behind.
    let left = leftovers(runId);
    for (const deadline = Date.now() + 3000; left.length > 0 && Date.now() < deadline; left = leftovers(runId)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    rmSync(shared, { recursive: true, force: true });
    if (left.length === 0) return;
    killAll(left);
    const lines = left.map((p) => `  pid ${p.pid} (from ${p.file}): ${p.cmdline}`);
    throw new Error(`${left.length} process(es) started by the tests were still running at the end (now killed):\n${lines.join("\n")}`);
  };
}
