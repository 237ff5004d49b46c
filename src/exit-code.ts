// The only place that turns an outcome into pidone's exit status (tini's and dumb-init's convention).
import type { Outcome } from "./supervisor/events.js";
import { CANNOT_EXECUTE, NOT_FOUND, spawnFailureCode, statusCode, signalNumber } from "./exit-status.js";

/** Exit codes pidone uses for itself (documented in the README). */
export const EXIT = {
  /** pidone failed internally; the app was stopped first. */
  internalError: 1,
  /** Bad command line or environment; nothing was spawned. */
  usage: 2,
  /** The command exists but cannot be executed (EACCES, ENOEXEC, ...). */
  cannotExecute: CANNOT_EXECUTE,
  /** The command was not found. */
  notFound: NOT_FOUND,
} as const;

/** pidone's own exit code for how the supervisor ended. */
export function exitCode(outcome: Outcome): number {
  switch (outcome.kind) {
    case "app-exited":
    case "gave-up":
      return statusCode(outcome.status);
    case "spawn-failed":
      return spawnFailureCode(outcome.errno);
    case "stopped-idle":
      // Stopped while no app ran (during a crash backoff): report the app's last status, which is
      // the real story; with none, report the signal like an app that died of it.
      return outcome.last ? statusCode(outcome.last) : 128 + (signalNumber(outcome.signal) ?? 0);
    case "internal-error":
      return EXIT.internalError;
  }
}
