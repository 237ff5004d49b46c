// The vocabulary shared by every part of pidone: what can happen to the app (events),
// and what the supervisor asks the outside world to do about it (effects).
// Pure types only: no node:* imports, so the state machine stays testable without processes.
import type { ExitStatus } from "../exit-status.js";

/** Where a restart request came from; logged with every restart. */
export type RestartSource = "signal" | "trigger-file" | "watch" | "control" | "crash";

/** Everything that can happen to the supervisor. `at` is a monotonic time in ms. */
export type Event =
  | { type: "start"; at: number }
  | { type: "spawned"; pid: number; at: number }
  | { type: "spawn-failed"; errno: string; message: string; at: number }
  | { type: "app-exited"; pid: number; status: ExitStatus; at: number }
  | { type: "tree-empty"; at: number }
  | { type: "restart-requested"; source: RestartSource; detail?: string; at: number }
  | { type: "stop-requested"; signal: string; at: number }
  | { type: "forward-signal"; signal: string; at: number }
  | { type: "timer"; name: TimerName; token: number; at: number }
  /** The drain armed with `token` ended: `left` connections were never accepted by the old
   *  generation, and `unread` it accepted it had not read when the drain stopped waiting. */
  | { type: "drained"; token: number; ms: number; left: number; unread: number; at: number }
  | { type: "internal-error"; message: string; at: number }
  /** --overlap: the next generation, started while the current one serves, is ready (`how`:
   *  notify, http, accept). */
  | { type: "next-ready"; token: number; how: string; at: number }
  /** Nothing is left of the generation whose app was `pid` (its session and process group). */
  | { type: "generation-gone"; pid: number; at: number };

/** Timers the machine arms; a fired timer carries the token it was armed with. */
export type TimerName = "stop-deadline" | "kill-grace" | "backoff" | "drain-deadline" | "ready-deadline";

/** Why pidone is ending; `exit-code.ts` maps each to a number. */
export type Outcome =
  | { kind: "app-exited"; status: ExitStatus }
  | { kind: "gave-up"; status: ExitStatus; restarts: number }
  | { kind: "spawn-failed"; errno: string; message: string }
  | { kind: "stopped-idle"; signal: string; last: ExitStatus | null }
  | { kind: "internal-error"; message: string };

/** Log severity for `log` effects. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** What the machine asks the runner to do; the runner performs them in order. */
export type Effect =
  /** Start a generation. `next`: while the current one still serves (--overlap), on the
   *  sockets new connections do not go to. */
  | { type: "spawn"; generation: number; next?: true }
  /** --overlap: report `next-ready` with `token` once generation `pid` is ready. */
  | { type: "await-ready"; pid: number; token: number }
  /** Stop watching for readiness. */
  | { type: "end-ready" }
  /** Send `signal` to what is left of the generation whose app was `pid` (its process group and
   *  session), and report `generation-gone` once nothing is; the other generation is untouched. */
  | { type: "sweep-generation"; pid: number; signal: string }
  /** Send `signal` to the app: its process group, or only the direct child. */
  | { type: "signal"; pid: number; signal: string; scope: "group" | "child" }
  /** After the app exited: send `signal` to every descendant still alive; report `tree-empty`
   *  once none remain. */
  | { type: "sweep"; signal: string }
  /** SIGKILL the app's process group (id `pid`) and every remaining descendant of pidone. */
  | { type: "kill-tree"; pid: number }
  /** Steer new connections to the next generation's sockets (--listen) and report `drained` once
   *  the generation whose app is `pid` has accepted what was queued for it, and read it. */
  | { type: "drain"; token: number; pid: number; handover?: true }
  /** Stop watching a drain that no longer matters. */
  | { type: "end-drain" }
  | { type: "set-timer"; name: TimerName; ms: number; token: number }
  | { type: "cancel-timer"; name: TimerName }
  | { type: "exit"; outcome: Outcome }
  /** `about`: the runner adds how that process stands with that signal now (from /proc): why
   *  a stop takes long is known to the process, not to the machine. */
  | {
      type: "log"; level: LogLevel; event: string; fields: Record<string, unknown>; about?: { pid: number; signal: string };
      /** The runner adds `tail`: the last lines this generation printed, when it has them. */
      tailOf?: number;
    };

/** Read-only view of the supervisor, for `pidone status` and the control socket. */
export interface StatusSnapshot {
  state: string;
  pid: number | null;
  generation: number;
  startedAt: number | null;
  restarts: number;
  lastExit: ExitStatus | null;
  lastRestartReason: string | null;
  /** Restarts that failed, the current generation serving on (--overlap). */
  failedRestarts: number;
  lastRestartFailure: RestartFailure | null;
  /** The last generation that exited on its own; in state `broken`, the one pidone waits to replace. */
  lastCrash: Crash | null;
}

/** Why a restart failed and the old generation kept serving (--overlap). */
export interface RestartFailure {
  reason: string;
  /** The next generation's exit status, when it exited. */
  status: ExitStatus | null;
  /** The next generation's number and pid (null if it never started). */
  generation: number;
  pid: number | null;
}

/** A generation that exited on its own (pid 0: it could not even be spawned). */
export interface Crash {
  generation: number;
  pid: number;
  status: ExitStatus;
  /** How long it ran. */
  upMs: number;
  at: number;
  /** Started by a change and gone within the change window: pidone waits for the next request. */
  afterChange: boolean;
}

/** Something that accepts events: the only thing a source is given. */
export type Dispatch = (event: Event) => void;
