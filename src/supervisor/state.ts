// The supervisor's state: a discriminated union whose data belongs to the state it describes,
// plus the few counters that outlive any one state (the context).
import type { Crash, Outcome, RestartFailure, RestartSource } from "./events.js";
import type { ExitStatus } from "../exit-status.js";

/** What a restart was asked for by. A request that arrives before the next generation is spawned
 *  is satisfied by that spawn; one that arrives while a generation is starting waits as
 *  `pending` and gives one more restart. */
export interface Request {
  source: RestartSource;
  detail?: string;
}

/** What a generation is being replaced for, carried until the new one is spawned (for the log). */
export interface RestartInfo extends Request {
  oldPid: number;
  oldStatus: ExitStatus | null;
  requestedAt: number;
  exitedAt: number | null;
}

/** What happens once a stopping generation is gone. */
export type Then =
  | { kind: "respawn"; request: Request }
  | { kind: "exit"; signal: string }
  | { kind: "after-crash" }
  | { kind: "internal-error"; message: string };

/** The lifecycle of the app, one generation at a time. */
export type State =
  | { kind: "idle" }
  | { kind: "starting"; generation: number; restart: RestartInfo | null; pending: Request | null; stopSignal: string | null }
  /** `byChange`: started because something changed or someone asked (not the first start, not a
   *  crash restart); a quick exit of it waits in `broken` instead of counting as a crash. */
  | { kind: "running"; generation: number; pid: number; startedAt: number; byChange: boolean }
  /** A restart was requested and the app still runs, serving what was queued for it, while new
   *  connections wait for the next generation (--listen); then it is signalled. */
  | {
      kind: "draining";
      generation: number;
      pid: number;
      startedAt: number;
      byChange: boolean;
      request: Request;
      requestedAt: number;
      token: number;
    }
  | {
      kind: "stopping";
      generation: number;
      pid: number;
      startedAt: number;
      byChange: boolean;
      then: Then;
      requestedAt: number;
      /** Null while the app (the direct child) is still alive. */
      status: ExitStatus | null;
      exitedAt: number | null;
      /** True once SIGKILL went out: the deadline passed or a second stop signal came. */
      killed: boolean;
      /** The signal the stop sent the app; null when it exited unasked. */
      sent: string | null;
      token: number;
    }
  /** --overlap: the next generation starts while the current one (pid) keeps serving; new
   *  connections go to the current one until the next is ready. */
  | {
      kind: "overlapping";
      generation: number;
      pid: number;
      startedAt: number;
      byChange: boolean;
      next: { generation: number; pid: number | null; startedAt: number | null };
      request: Request;
      requestedAt: number;
      token: number;
      pending: Request | null;
    }
  /** --overlap: the next generation is ready and gets new connections (pid is now its); the old
   *  one drains what was queued for it, then is stopped. */
  | {
      kind: "handover";
      generation: number;
      pid: number;
      startedAt: number;
      byChange: boolean;
      old: Retiring;
      request: Request;
      requestedAt: number;
      readyAt: number;
      how: string;
      token: number;
      pending: Request | null;
    }
  | { kind: "backoff"; token: number; delayMs: number; last: ExitStatus; restart: RestartInfo }
  /** A generation started by a change exited within the change window: nothing runs, nothing is
   *  counted, and the next restart request (the fix) starts a generation at once. */
  | { kind: "broken"; generation: number; pid: number; status: ExitStatus; since: number }
  | { kind: "exited"; outcome: Outcome };

/** The generation a handover retires: drained first, then stopped. */
export interface Retiring {
  pid: number;
  generation: number;
  phase: "draining" | "stopping";
  /** Null while its app is alive. */
  status: ExitStatus | null;
  exitedAt: number | null;
  killed: boolean;
}

/** Counters that survive state changes. */
export interface Context {
  generation: number;
  restarts: number;
  /** Times (ms) of recent unexpected exits, for --max-restarts within --restart-window. */
  crashes: number[];
  lastExit: ExitStatus | null;
  lastRestartReason: string | null;
  lastStartedAt: number | null;
  nextToken: number;
  failedRestarts: number;
  lastRestartFailure: RestartFailure | null;
  /** The last generation that exited on its own (not asked to stop). */
  lastCrash: Crash | null;
}

/** The whole model the machine transforms. */
export interface Model {
  state: State;
  ctx: Context;
}

/** The policy the machine applies: the parts of Config that decide transitions. */
export interface Policy {
  signalScope: "group" | "child";
  /** What a restart or an internal-error stop sends the app, and what a SIGTERM to pidone is
   *  sent as (--stop-signal). The sweep of leftovers after the app's exit stays SIGTERM. */
  stopSignal: string;
  stopTimeoutMs: number;
  /** After SIGKILL, how long to wait for the tree to vanish before carrying on regardless. */
  killGraceMs: number;
  restart: "on-failure" | "always" | "never";
  maxRestarts: number;
  restartWindowMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** An app that stayed up this long before crashing starts its backoff afresh. */
  backoffResetMs: number;
  /** Restarts drain the old generation before signalling it (--listen with a TCP socket). */
  drain: boolean;
  /** Restarts start the next generation first and switch once it is ready (--overlap). */
  overlap: boolean;
  /** How long the next generation may take to become ready (--ready-timeout). */
  readyTimeoutMs: number;
  /** A generation started by a change or a request that exits on its own sooner than this after
   *  its start waits in `broken` for the next request instead of entering the backoff, and is
   *  not counted toward --max-restarts (--change-window); 0: every crash counts. */
  changeWindowMs: number;
}

/** The model before the first event. */
export function initialModel(): Model {
  return {
    state: { kind: "idle" },
    ctx: { generation: 0, restarts: 0, crashes: [], lastExit: null, lastRestartReason: null, lastStartedAt: null, nextToken: 1, failedRestarts: 0, lastRestartFailure: null, lastCrash: null },
  };
}
