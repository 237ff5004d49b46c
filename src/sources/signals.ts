// Signals sent to pidone become events: stop signals stop, the restart signal restarts, the rest
// are forwarded to the app. The source never touches the process itself.
import type { Dispatch } from "../supervisor/events.js";

/** Signals pidone handles (SIGCHLD belongs to the reaper). */
export const HANDLED_SIGNALS: readonly NodeJS.Signals[] = [
  "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT", "SIGTSTP", "SIGTTIN", "SIGTTOU",
];

const STOP_SIGNALS = new Set(["SIGTERM", "SIGINT", "SIGQUIT"]);

declare global {
  // Installed by src/boot/early-signals.js before the bundle's modules load.
  // eslint-disable-next-line no-var
  var __pidoneEarlySignals: { queue: string[]; release(): string[] } | undefined;
}

/** Take over from the early handlers; returns the signals they queued (in order). Safe to call
 *  when the banner is absent (unbundled tests). */
export function releaseEarlySignals(): string[] {
  return globalThis.__pidoneEarlySignals?.release() ?? [];
}

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
