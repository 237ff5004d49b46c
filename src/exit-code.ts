// The only place that turns an outcome into pidone's exit status (tini's and dumb-init's convention).
import type { ExitStatus, Outcome } from "./supervisor/events.js";

/** Signal numbers for the names Node reports; kept here so this module stays pure. */
const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8,
  SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
  SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22,
  SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29,
  SIGPWR: 30, SIGSYS: 31,
};

/** Exit codes pidone uses for itself (documented in the README). */
export const EXIT = {
  /** pidone failed internally; the app was stopped first. */
  internalError: 1,
  /** Bad command line or environment; nothing was spawned. */
  usage: 2,
  /** The command exists but cannot be executed (EACCES, ENOEXEC, ...). */
  cannotExecute: 126,
  /** The command was not found. */
  notFound: 127,
} as const;

/** Exit code of a command that could not be spawned, as a shell reports it. */
export function spawnFailureCode(errno: string): number {
  return errno === "ENOENT" || errno === "ENOTDIR" ? EXIT.notFound : EXIT.cannotExecute;
}

/** An app's status as a shell would report it: the code, or 128 + signal number. */
export function statusCode(status: ExitStatus): number {
  if (status.signal === null) return status.code;
  return 128 + (SIGNAL_NUMBERS[status.signal] ?? 0);
}

/** Short human form of a status, for logs and `pidone status`. */
export function describeStatus(status: ExitStatus | null): string | null {
  if (status === null) return null;
  return status.signal === null ? `exit ${status.code}` : `signal ${status.signal}`;
}

/** pidone's own exit code for how it ended. */
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
      return outcome.last ? statusCode(outcome.last) : statusCode({ code: null, signal: outcome.signal });
    case "internal-error":
      return EXIT.internalError;
  }
}
