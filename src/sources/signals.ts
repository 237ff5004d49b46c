// Signals sent to pidone become events: stop signals stop, the restart signal restarts, the rest
// are forwarded to the app. The source never touches the process itself.
import type { Dispatch } from "../supervisor/events.js";
import { releaseEarlySignals } from "../boot/release-early-signals.js";

/** Signals pidone handles: every one a process can catch and Node can name, except SIGCHLD (the
 *  reaper's), SIGPIPE (Node ignores it; caught, pidone's own write to a closed pipe would be
 *  forwarded as if sent to it) and the synchronous faults SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 *  SIGTRAP and SIGSYS: raised by pidone's own instruction, a handler would return to it and loop
 *  or carry on corrupt, so they keep their default action (tini leaves them out likewise).
 *  SIGIO is SIGPOLL (one number: listening to both would forward it twice). SIGABRT is caught:
 *  `kill -ABRT` asks Go apps for a goroutine dump, and pidone's own abort() still ends it, as
 *  glibc resets the handler before raising again. Real-time signals (SIGRTMIN..SIGRTMAX) cannot
 *  be caught: Node's process.on has no names for them (ERR_UNKNOWN_SIGNAL).
 *  The early handlers (src/boot/early-signals.js) list the same names. */
export const HANDLED_SIGNALS: readonly NodeJS.Signals[] = [
  "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT", "SIGTSTP", "SIGTTIN", "SIGTTOU",
  "SIGPWR", "SIGALRM", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGURG", "SIGIO", "SIGSTKFLT", "SIGABRT",
];

const STOP_SIGNALS = new Set(["SIGTERM", "SIGINT", "SIGQUIT"]);

/** Route pidone's signals into the machine. Install before releasing the early handlers so no
 *  instant is left without a handler. */
export function watchSignals(dispatch: Dispatch, restartSignal: NodeJS.Signals, now: () => number): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    const at = now();
    if (signal === restartSignal) dispatch({ type: "restart-requested", source: "signal", detail: signal, at });
    else if (STOP_SIGNALS.has(signal)) dispatch({ type: "stop-requested", signal, at });
    else dispatch({ type: "forward-signal", signal, at });
  };
  const names = new Set<NodeJS.Signals>([...HANDLED_SIGNALS, restartSignal]);
  for (const name of names) process.on(name, onSignal);
  for (const early of releaseEarlySignals()) onSignal(early as NodeJS.Signals);
  return () => {
    for (const name of names) process.removeListener(name, onSignal);
  };
}
