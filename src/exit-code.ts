// Every exit code pidone's commands end with, in one place, and the only mapping from how the
// supervisor ended to its code (tini's and dumb-init's convention). Only main.ts sets the code.
import type { Outcome } from "./supervisor/events.js";
import { CANNOT_EXECUTE, NOT_FOUND, spawnFailureCode, statusCode, signalNumber } from "./exit-status.js";

/** `pidone [options] -- command`: pidone's own codes (documented in the README); otherwise the app's. */
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

/** `pidone restart` and `pidone status` (documented in the README). */
export const CLIENT_EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, timeout: 4, crashed: 5 } as const;

/** `pidone sync` (documented in the README). */
export const SYNC_EXIT = { ok: 0, failed: 1, usage: 2, transport: 3 } as const;

/** `pidone receive` (documented in the README). */
export const RECEIVE_EXIT = { ok: 0, refused: 1, usage: 2, interrupted: 3 } as const;

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
