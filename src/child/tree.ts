// The one owner of pidone's process tree: reaping (orphans, and a zygote's generation that outlived
// its zygote; never a child Node spawned),
// counting (is anything of the tree left?), signalling the app, and killing what it left behind,
// under one errno policy: a process that is gone (ESRCH) or not ours to signal (EPERM) is an
// answer, not an error; the second is logged once per generation and the stop carries on.
import { closeSync } from "node:fs";
import { constants } from "node:os";
import { decodeSiginfo, type ExitStatus } from "../exit-status.js";
import type { ChildExit, Libc } from "../sys/libc.js";
import { catchesSignal, directChildren, eachProcess, signalStanding, type ProcInfo, type SignalStanding } from "../sys/proc.js";

/** What a signal met: delivered, a process already gone (ESRCH), or one we may not signal (EPERM). */
export type Delivery = "sent" | "gone" | "denied";

/** The errno policy, in one place: ESRCH and EPERM are answers; anything else (EINVAL: a bad
 *  signal number) is pidone's own bug and is thrown. */
export function deliveryOf(errCode: string | undefined): Delivery {
  if (errCode === "ESRCH") return "gone";
  if (errCode === "EPERM") return "denied";
  throw Object.assign(new Error(`kill failed: ${errCode ?? "unknown error"}`), { code: errCode });
}

/** kill(2) under the errno policy. `pid` may be negative: a process group. */
export function sendSignal(pid: number, signal: NodeJS.Signals | number): Delivery {
  try {
    process.kill(pid, signal);
    return "sent";
  } catch (err) {
    return deliveryOf((err as NodeJS.ErrnoException).code);
  }
}

/** The ExitStatus of a child reaped by waitid (null for a code that is not an end). */
export function exitStatusOf(exit: ChildExit): ExitStatus | null {
  return decodeSiginfo(exit.code, exit.status);
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

/** Why a process that was sent `signal` is still alive, in words, from how it stands with it. */
export function whyAlive(s: SignalStanding, signal: string): string {
  if (/^[Tt]/.test(s.state)) return `it is stopped, so ${signal} waits until it is continued`;
  if (s.handling === "ignored") return `it ignores ${signal}`;
  if (s.blocked) return `it blocks ${signal}${s.pending ? ", which is pending" : ""}`;
  if (s.handling === "caught") return `its ${signal} handler has not ended it`;
  if (s.state.startsWith("D")) return "it is in uninterruptible sleep (D), where no signal acts";
  return `${signal} has not ended it yet`;
}

/** Log fields on how `pid` stands with `signal` now (nothing if /proc has no answer). */
export function standingFields(pid: number, signal: NodeJS.Signals): Record<string, unknown> {
  const s = signalStanding(pid, constants.signals[signal]);
  return s === null ? {} : { signal, appState: s.state, why: whyAlive(s, signal) };
}

/** Result of a reaping pass. */
export interface ReapResult {
  reaped: number[];
  /** No child of pidone is left, living or zombie: nothing of any generation remains. */
  empty: boolean;
}

/** Who collects an app pid's exit status. "node": Node spawned it and libuv waits for it by pid,
 *  so the tree never reaps it. "parent": its parent collects it (the --preload zygote that forked
 *  it); should that parent die first, the pid is re-parented to pidone, and the tree reaps it
 *  like an orphan and hands its status to `orphaned`. */
export type Collector = { kind: "node" } | { kind: "parent"; orphaned(status: ExitStatus): void };

/** Where warnings go (the runner's logger). */
export interface TreeLog {
  warn(fields: Record<string, unknown>): void;
  debug(fields: Record<string, unknown>): void;
}

/** Most SIGSTOP passes before the kill goes out regardless: each pass reads all of /proc. */
const FREEZE_PASSES = 50;
const KILL_PASSES = 20;
/** Zombies reaped by peeking before a pass switches to the children list. Each peek walks
 *  pidone's children in the kernel until it meets a zombie, so when many exit at once (living
 *  siblings ahead of each zombie) one read of the list plus a reap per listed pid is cheaper;
 *  when they trickle in, a SIGCHLD finds one or two, and peeking never reads /proc at all. */
const PEEK_BATCH = 16;

/** The process tree below pidone. */
export class ProcessTree {
  /** The app pids and who collects each: Node's are never reaped here. */
  private readonly collectors = new Map<number, Collector>();
  /** A pidfd per adopted app pid, where the kernel has them: signals then cannot hit a process
   *  that later reused the pid. */
  private readonly pidfds = new Map<number, number>();
  private pidfdsWork = true;
  /** EPERM is warned about once per generation (one stop each), then only counted. */
  private deniedWarned = false;
  private denied = 0;

  constructor(
    private readonly libc: () => Libc | null,
    private readonly log: TreeLog,
    /** pidone's own helpers (the --preload zygote): Node collects them, and they are not the
     *  app's, so they are never reaped, counted, swept or killed here. Live: it changes. */
    private readonly helpers: ReadonlySet<number> = new Set(),
  ) {}

  /** No child of pidone is left but its helpers. */
  private empty(): boolean {
    return directChildren().every((pid) => this.helpers.has(pid));
  }

  /** Register an app pid just started, and who collects it; open a pidfd for it. Called
   *  synchronously after the spawn (or the zygote's reply), before any SIGCHLD can be handled,
   *  so the pid is still that process. */
  adopt(pid: number, collector: Collector = { kind: "node" }): void {
    this.collectors.set(pid, collector);
    this.deniedWarned = false;
    this.denied = 0;
    const libc = this.pidfdsWork ? this.libc() : null;
    if (libc === null) return;
    const fd = libc.pidfdOpen(pid);
    if (fd >= 0) this.pidfds.set(pid, fd);
    else if (fd === -38 /* ENOSYS: before Linux 5.3 */) this.pidfdsWork = false;
  }

  /** The collector has the pid's status (libuv emitted 'exit'): the pid is free for reuse. */
  release(pid: number): void {
    this.collectors.delete(pid);
    const fd = this.pidfds.get(pid);
    if (fd === undefined) return;
    this.pidfds.delete(pid);
    try {
      closeSync(fd);
    } catch {
      // already closed: nothing held
    }
  }

  /** Reap every zombie child Node does not collect: orphans, and generations whose zygote died
   *  (their status goes to their collector once the pass is over, so nothing it sets off runs
   *  inside it). Cheap per SIGCHLD: waitid(WNOWAIT) names a zombie without reaping it, so each
   *  orphan costs two calls and no /proc read. Only when the zombie it names is Node's own
   *  (libuv has not collected it yet, and WNOWAIT would keep naming it), or when many exited at
   *  once, does this read pidone's children list instead. Loops: SIGCHLDs coalesce. */
  reap(): ReapResult {
    const reaped: number[] = [];
    const statuses: (() => void)[] = [];
    const result = this.reapPass(reaped, statuses);
    for (const report of statuses) report();
    return result;
  }

  private reapPass(reaped: number[], statuses: (() => void)[]): ReapResult {
    const libc = this.libc();
    if (libc === null) return { reaped, empty: this.empty() };
    while (reaped.length < PEEK_BATCH) {
      const pid = libc.peekZombie();
      if (pid === -10 /* ECHILD */) return { reaped, empty: true };
      // Living children only: none of the app's if the helpers are all there is.
      if (pid === 0) return { reaped, empty: this.helpers.size > 0 && this.empty() };
      if (pid < 0 || !this.ours(pid)) break;
      if (!this.reapOne(libc, pid, statuses)) break; // named but not reapable: should not happen
      reaped.push(pid);
    }
    return this.reapByList(libc, reaped, statuses);
  }

  /** The slow path: reap each listed child Node does not collect. */
  private reapByList(libc: Libc, reaped: number[], statuses: (() => void)[]): ReapResult {
    for (let pass = 0; pass < 64; pass++) {
      let found = 0;
      for (const pid of directChildren()) {
        if (!this.ours(pid)) continue;
        if (this.reapOne(libc, pid, statuses)) {
          reaped.push(pid);
          found++;
        }
      }
      if (found === 0) break;
    }
    return { reaped, empty: this.empty() };
  }

  /** A child of pidone the tree reaps: not a helper, not one Node collects. */
  private ours(pid: number): boolean {
    return !this.helpers.has(pid) && this.collectors.get(pid)?.kind !== "node";
  }

  /** Reap `pid` if it is a zombie; a generation whose zygote died has its status queued for its
   *  collector, and its pid is released (it is free for reuse). */
  private reapOne(libc: Libc, pid: number, statuses: (() => void)[]): boolean {
    const exit = libc.reap(pid);
    if (exit === null) return false;
    const c = this.collectors.get(pid);
    if (c?.kind === "parent") {
      this.release(pid);
      // waitid(WEXITED) reports only ends, so the status always decodes.
      const status = exitStatusOf(exit) as ExitStatus;
      statuses.push(() => c.orphaned(status));
    }
    return true;
  }

  /** Signal the app: its whole process group (the default), or only the direct child. The group
   *  id is the app's pid because it was spawned as a session leader. Falls back to the pid if the
   *  group is gone (the leader may have moved). Returns the signal actually sent. */
  signalApp(pid: number, signal: NodeJS.Signals, scope: "group" | "child"): NodeJS.Signals {
    const sent = deliverable(pid, signal);
    if (scope === "group" && this.signal(-pid, sent) !== "gone") return sent;
    this.signalPid(pid, sent);
    return sent;
  }

  /** The app pid itself, through its pidfd where there is one. A pid no longer adopted has been
   *  collected: it may belong to another process now, so it is not signalled. */
  private signalPid(pid: number, signal: NodeJS.Signals): Delivery {
    if (!this.collectors.has(pid)) return "gone";
    const fd = this.pidfds.get(pid);
    const libc = fd === undefined ? null : this.libc();
    if (fd === undefined || libc === null) return this.signal(pid, signal);
    const r = libc.pidfdSendSignal(fd, constants.signals[signal]);
    if (r === 0) return "sent";
    if (r === -3) return "gone";
    if (r === -1) return this.denied1(pid, signal);
    return this.signal(pid, signal); // ENOSYS and the like: plain kill()
  }

  /** Signal every living descendant, after reaping; `empty` once nothing is left. SIGKILL runs
   *  the whole kill (freeze, then kill) so that nothing forked meanwhile survives. */
  sweep(signal: NodeJS.Signals): { empty: boolean; signalled: number } {
    if (this.reap().empty) return { empty: true, signalled: 0 };
    if (signal === "SIGKILL") return { empty: false, signalled: this.kill(null).killed };
    let n = 0;
    eachLivingDescendant((p) => {
      if (this.helpers.has(p.pid)) return;
      if (this.signal(p.pid, signal) === "sent") n++;
    });
    return { empty: false, signalled: n };
  }

  /** SIGKILL the app's group and every living descendant. A fork loop outruns a walk of /proc
   *  that kills as it goes, so first freeze: SIGSTOP everything, walking again until a pass finds
   *  nobody new (a process with a signal pending cannot complete a fork: the kernel restarts it),
   *  then SIGKILL, which also reaches stopped processes. Each process is signalled as soon as the
   *  walk reads it: a fork storm starves pidone of CPU, and a walk that read all of /proc before
   *  signalling anyone would let it run for the whole walk. Every loop is bounded: PID 1 must not
   *  hang on a fork bomb. Returns how many processes were sent SIGKILL, and how many walks of
   *  /proc it took. */
  kill(group: number | null): { killed: number; passes: number } {
    if (group !== null && group > 0) this.signal(-group, "SIGSTOP");
    const stopped = new Set<number>();
    let passes = 0;
    for (let pass = 0; pass < FREEZE_PASSES; pass++, passes++) {
      let fresh = 0;
      eachLivingDescendant((p) => {
        if (this.helpers.has(p.pid)) return;
        if (stopped.has(p.pid)) return;
        stopped.add(p.pid);
        this.signal(p.pid, "SIGSTOP");
        fresh++;
      });
      if (fresh === 0) break;
    }
    if (group !== null && group > 0) this.signal(-group, "SIGKILL");
    const killed = new Set<number>();
    for (let pass = 0; pass < KILL_PASSES; pass++, passes++) {
      let fresh = 0;
      eachLivingDescendant((p) => {
        if (this.helpers.has(p.pid)) return;
        if (killed.has(p.pid)) return;
        killed.add(p.pid);
        this.signal(p.pid, "SIGKILL");
        fresh++;
      });
      if (fresh === 0) break;
    }
    return { killed: killed.size, passes };
  }

  /** Living processes of the generation whose app was `pid` (--overlap, where another
   *  generation runs beside it): its process group and its session (the app leads one or the
   *  other), wherever they were re-parented. A process that made a session of its own is not
   *  found: it is swept with everything else when pidone stops. */
  generationMembers(pid: number): number[] {
    const out: number[] = [];
    eachLivingDescendant((p) => {
      if (p.pgid === pid || p.sid === pid) out.push(p.pid);
    });
    return out;
  }

  /** Signal what is left of the generation whose app was `pid`; returns how many were signalled. */
  signalGeneration(pid: number, signal: NodeJS.Signals): number {
    let n = 0;
    for (const p of this.generationMembers(pid)) if (this.signal(p, signal) === "sent") n++;
    return n;
  }

  /** kill(2) under the errno policy, warning about EPERM. */
  private signal(pid: number, signal: NodeJS.Signals): Delivery {
    const d = sendSignal(pid, signal);
    return d === "denied" ? this.denied1(pid, signal) : d;
  }

  private denied1(pid: number, signal: string): Delivery {
    this.denied++;
    if (!this.deniedWarned) {
      this.deniedWarned = true;
      this.log.warn({ event: "signal-denied", pid, signal, reason: "EPERM: the process runs as another user; pidone carries on without it" });
    } else {
      this.log.debug({ event: "signal-denied", pid, signal, count: this.denied });
    }
    return "denied";
  }
}

/** Visit each living descendant of pidone (zombies are dead and wait for the reaper) while
 *  /proc is read: a process whose parent is already known is visited at once (parents usually
 *  have lower pids, and /proc lists pids in ascending order); the others are resolved after the
 *  read (pids that wrapped around, re-parented processes). */
export function eachLivingDescendant(
  visit: (p: ProcInfo) => void, root = process.pid, table: (visit: (p: ProcInfo) => void) => void = eachProcess,
): void {
  const known = new Set<number>([root]);
  const later: ProcInfo[] = [];
  table((p) => {
    if (!known.has(p.ppid)) {
      later.push(p);
      return;
    }
    known.add(p.pid);
    if (p.state !== "Z") visit(p);
  });
  for (let grew = true; grew;) {
    grew = false;
    for (const p of later) {
      if (known.has(p.pid) || !known.has(p.ppid)) continue;
      known.add(p.pid);
      grew = true;
      if (p.state !== "Z") visit(p);
    }
  }
}
