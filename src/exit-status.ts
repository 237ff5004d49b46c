// How a process ended, in one place: the status type, Linux's signal table, decoding what the
// kernel reports (a wait status, a waitid siginfo), the one text form, and the shell's numbers
// for it (128 + signal, 126/127 for a command that cannot run). Imports nothing, not even
// node:*, so sys/, child/, supervisor/ and the exit codes all lean on it.

/** How a process ended: an exit code, or the name of the signal that killed it. */
export type ExitStatus = { code: number; signal: null } | { code: null; signal: string };

/** Linux's signal numbers (x86_64 and aarch64), one name each: the kernel's, which is also the
 *  one Node reports (SIGABRT, not its alias SIGIOT; SIGIO, not SIGPOLL). */
export const SIGNALS = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8,
  SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
  SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22,
  SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29,
  SIGPWR: 30, SIGSYS: 31,
} as const;

/** Other names Linux gives a number in the table. */
const ALIASES: Readonly<Record<string, number>> = { SIGIOT: 6, SIGPOLL: 29 };

const NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [name, n] of Object.entries(SIGNALS)) names[n] = name;
  return names;
})();

/** The name of signal `n`: SIGTERM for 15, "SIG<n>" for one the table does not name (real-time
 *  signals, 32 and up). */
export function signalName(n: number): string {
  return NAMES[n] ?? `SIG${n}`;
}

/** The number of a signal name (an alias, or the "SIG<n>" signalName gives), or null. */
export function signalNumber(name: string): number | null {
  const n = (SIGNALS as Readonly<Record<string, number>>)[name] ?? ALIASES[name];
  if (n !== undefined) return n;
  const m = /^SIG([1-9][0-9]?)$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** A status from what Node reports at a child's 'exit': the code, or the signal's name. */
export function fromNodeExit(code: number | null, signal: string | null): ExitStatus {
  return signal !== null && signal !== "" ? { code: null, signal } : { code: code ?? 0, signal: null };
}

/** A status from a wait status (waitpid's int): the exit code, or the killing signal (a core
 *  dump, bit 0x80, ends it the same way). */
export function decodeWaitStatus(status: number): ExitStatus {
  const sig = status & 0x7f;
  if (sig === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: signalName(sig) };
}

/** waitid's si_code for a child that ended: exited, killed by a signal, killed and dumped core. */
export const CLD = { EXITED: 1, KILLED: 2, DUMPED: 3 } as const;

/** A status from waitid's siginfo: si_code CLD_EXITED (si_status is the exit code), CLD_KILLED or
 *  CLD_DUMPED (si_status is the signal number). Null for a code that is not an end (a stop, a
 *  continue). */
export function decodeSiginfo(siCode: number, siStatus: number): ExitStatus | null {
  if (siCode === CLD.EXITED) return { code: siStatus, signal: null };
  if (siCode === CLD.KILLED || siCode === CLD.DUMPED) return { code: null, signal: signalName(siStatus) };
  return null;
}

/** The one text form of a status, for logs and `pidone status`: "exit 3", "signal SIGTERM". */
export function describeStatus(status: ExitStatus): string;
export function describeStatus(status: ExitStatus | null): string | null;
export function describeStatus(status: ExitStatus | null): string | null {
  if (status === null) return null;
  return status.signal === null ? `exit ${status.code}` : `signal ${status.signal}`;
}

/** A status as a shell reports it: the exit code, or 128 + the signal's number. */
export function statusCode(status: ExitStatus): number {
  if (status.signal === null) return status.code;
  return 128 + (signalNumber(status.signal) ?? 0);
}

/** The shell's code for a command that was not found. */
export const NOT_FOUND = 127;
/** The shell's code for a command that exists but cannot be executed (EACCES, ENOEXEC, ...). */
export const CANNOT_EXECUTE = 126;

/** The code of a command that could not be spawned (`errno` from the spawn), as a shell reports it. */
export function spawnFailureCode(errno: string): number {
  return errno === "ENOENT" || errno === "ENOTDIR" ? NOT_FOUND : CANNOT_EXECUTE;
}
