// Starting the app: argv as given (no shell), env and cwd inherited, stdio inherited so output
// reaches the container log byte for byte without passing through pidone.
import { spawn, type ChildProcess } from "node:child_process";
import type { ExitStatus } from "../supervisor/events.js";

/** Callbacks for the two ways a spawned app reports back. */
export interface SpawnHandlers {
  onExit(status: ExitStatus): void;
  onError(errno: string, message: string): void;
}

/** Spawn the app as the leader of a new session and process group (setsid, via `detached`),
 *  so that signals can go to its whole group and a TTY's job control does not reach it
 *  behind pidone's back. Returns the pid, or null if the spawn failed (reported via onError). */
export function spawnApp(command: string, args: readonly string[], handlers: SpawnHandlers): number | null {
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: "inherit", detached: true, windowsHide: true });
  } catch (err) {
    // Synchronous failures (EINVAL for a NUL byte in argv, ...): report like async ones.
    const e = err as NodeJS.ErrnoException;
    queueMicrotask(() => handlers.onError(e.code ?? "EINVAL", describeSpawnError(command, e)));
    return null;
  }
  let failed = false;
  child.on("error", (err: NodeJS.ErrnoException) => {
    // 'error' also fires for a failed kill/send on a live child; pidone uses neither, so only a
    // spawn failure (no pid) is reported.
    if (child.pid !== undefined || failed) return;
    failed = true;
    handlers.onError(err.code ?? "UNKNOWN", describeSpawnError(command, err));
  });
  child.once("exit", (code, signal) => {
    handlers.onExit(signal !== null ? { code: null, signal } : { code: code ?? 0, signal: null });
  });
  return child.pid ?? null;
}

/** One line naming the command and what is wrong with it. */
function describeSpawnError(command: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "ENOENT":
      return `${command}: command not found`;
    case "EACCES":
      return `${command}: permission denied (not executable, or a directory)`;
    case "ENOEXEC":
      return `${command}: not an executable format (missing #! line?)`;
    default:
      return `${command}: ${err.message}`;
  }
}
