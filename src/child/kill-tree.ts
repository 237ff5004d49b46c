// Signalling the app and what it left behind: its process group first, then every descendant
// of pidone found through /proc (those that called setsid or double-forked out of the group).
import { constants } from "node:os";
import { catchesSignal, descendantsOf, listProcesses } from "../sys/proc.js";

/** Send a signal; a process that is already gone (ESRCH) is not an error. Returns false if gone. */
export function sendSignal(pid: number, signal: NodeJS.Signals | number): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

/** Job-control stops whose default action the kernel discards for an orphaned process group,
 *  which the app's group is (its parent, pidone, sits in another session). */
const JOB_CONTROL_STOPS = new Set(["SIGTSTP", "SIGTTIN", "SIGTTOU"]);

/** The signal to send for `signal`: a job-control stop goes as SIGSTOP (like dumb-init in setsid
 *  mode, so Ctrl-Z still suspends the app), unless the app catches it: gunicorn's master uses
 *  SIGTTIN/SIGTTOU to add and remove workers, and a SIGSTOP would freeze it instead. */
export function deliverable(pid: number, signal: NodeJS.Signals): NodeJS.Signals {
  if (!JOB_CONTROL_STOPS.has(signal)) return signal;
  return catchesSignal(pid, constants.signals[signal]) ? signal : "SIGSTOP";
}

/** Signal the app: its whole process group (the default), or only the direct child. The group
 *  id is the app's pid because it was spawned as a session leader. Falls back to the pid if the
 *  group is gone (the leader may have moved). Returns the signal actually sent. */
export function signalApp(pid: number, signal: NodeJS.Signals, scope: "group" | "child"): NodeJS.Signals {
  const sent = deliverable(pid, signal);
  if (scope === "group" && sendSignal(-pid, sent)) return sent;
  sendSignal(pid, sent);
  return sent;
}

/** Living descendants of pidone (zombies excluded: they are dead and wait for the reaper). */
export function livingDescendants(): { pid: number; pgid: number }[] {
  return descendantsOf(process.pid, listProcesses()).filter((p) => p.state !== "Z");
}

/** Signal every living descendant; returns how many were signalled. */
export function signalDescendants(signal: NodeJS.Signals): number {
  let n = 0;
  for (const p of livingDescendants()) if (sendSignal(p.pid, signal)) n++;
  return n;
}

/** SIGKILL the group and every living descendant. A process may fork while we walk the table,
 *  so walk again until a pass finds nothing alive (bounded: a fork bomb must not hang PID 1). */
export function killTree(group: number | null): number {
  if (group !== null && group > 0) sendSignal(-group, "SIGKILL");
  let killed = 0;
  for (let pass = 0; pass < 20; pass++) {
    const alive = livingDescendants();
    if (alive.length === 0) break;
    for (const p of alive) if (sendSignal(p.pid, "SIGKILL")) killed++;
  }
  return killed;
}
