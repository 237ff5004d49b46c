// Starting the app: argv as given (no shell), env and cwd inherited, stdin inherited; stdout and
// stderr inherited, or the capture's pipes when pidone keeps what the app prints (src/output/). Through libuv's
// process handle directly where Node allows it quietly (src/sys/process-wrap.ts), else through
// child_process, loaded then: the same uv_spawn either way.
import type { ChildProcess } from "node:child_process";
import { accessSync, constants as fsc, statSync } from "node:fs";
import path from "node:path";
import { fromNodeExit, type ExitStatus } from "../exit-status.js";
import { direct, processWrap } from "../sys/process-wrap.js";
import { execShim } from "./exec-shim.js";
import type { Collector } from "./tree.js";

/** How to start the app when it is handed listening sockets (see child/handoff.ts). */
export interface SpawnVia {
  /** Extra descriptors for the app: dup'ed to 3, 4, ... in the child. */
  fds: readonly number[];
  /** The app's whole environment. */
  env: NodeJS.ProcessEnv;
  /** A program that sets LISTEN_PID to its own pid and execs the app in place; the app's command
   *  and arguments are appended to it. */
  shim: readonly string[];
}

/** The descriptors given to the app as its stdout and stderr (the write ends of the capture's
 *  pipes, src/output/capture.ts); without them it inherits pidone's own. */
export type AppStdio = readonly [stdout: number, stderr: number];

/** Callbacks for the two ways a spawned app reports back. */
export interface SpawnHandlers {
  /** The supervisor's number for this generation (an --overlap attempt that failed and the one
   *  after it share one): what the output capture files its output under. */
  generation?: number;
  onExit(status: ExitStatus): void;
  onError(errno: string, message: string): void;
}

/** How each generation is started: the plain spawn below, or a fork of the preload zygote
 *  (src/preload/launcher.ts). The runner cannot tell them apart. */
export interface Spawner {
  /** Start one generation. Reports its pid through `onSpawned` (now or a little later), with who
   *  collects its status (default: Node), then `onExit` once; or `onError` alone if it could not
   *  start. `stdio`: the app's stdout and stderr when pidone captures them. */
  start(handlers: SpawnHandlers & { onSpawned(pid: number, collector?: Collector): void }, via?: SpawnVia, stdio?: AppStdio): void;
  /** Pids of pidone's own helper processes (the zygote): not the app's, so never reaped, counted,
   *  swept or killed with it. */
  readonly helpers: ReadonlySet<number>;
}

/** Which API starts the app on this node: libuv's process handle itself, or child_process. */
export function spawnApi(): "process_wrap" | "child_process" {
  return processWrap() !== null ? "process_wrap" : "child_process";
}

/** The plain spawner: every generation is a fresh process (spawnApp). */
export function plainSpawner(command: string, args: readonly string[], terminal = false): Spawner {
  return {
    helpers: new Set(),
    start(handlers, via, stdio) {
      const pid = spawnApp(command, args, handlers, via, terminal, stdio);
      if (pid !== null) handlers.onSpawned(pid);
    },
  };
}

/** Spawn the app as the leader of a new session and process group (setsid, via `detached`),
 *  so that signals can go to its whole group. With `terminal` (pidone's stdin is a TTY) the app
 *  instead stays in pidone's session, in a process group of its own that the exec shim makes the
 *  terminal's foreground: the kernel then sends the terminal's ^C and ^Z to the app's group, as
 *  it would without pidone, and pidone is not in it. Either way the group id is the app's pid
 *  (in terminal mode once the shim has run; until then signalApp falls back to the pid).
 *  Returns the pid, or null if the spawn failed (reported via onError). */
export function spawnApp(
  command: string, args: readonly string[], handlers: SpawnHandlers, via?: SpawnVia, terminal = false, stdio?: AppStdio,
): number | null {
  let file = command;
  let argv = [command, ...args];
  let env = process.env;
  if (via || terminal) {
    // The shim, not the app, is what Node execs: look the app up first, as execvp will, so that
    // a missing or non-executable command is still a spawn failure (exit 127/126), not a crash.
    env = via?.env ?? process.env;
    const problem = findExecutable(command, env.PATH);
    if (problem !== null) return failLater(handlers, command, problem, problem);
    const shim = terminal ? execShim(env, { listenPid: via !== undefined, terminal }) : (via as SpawnVia).shim;
    [file] = shim as [string, ...string[]];
    argv = [...shim, command, ...args];
  }
  const fds = [0, ...(stdio ?? [1, 2]), ...(via?.fds ?? [])];
  const Process = processWrap();
  if (Process !== null) {
    const r = direct(Process, file, argv, env, fds, !terminal, handlers.onExit);
    return "pid" in r ? r.pid : failLater(handlers, command, r.errno, r.message);
  }
  return spawnWithChildProcess(command, file, argv, env, fds, !terminal, handlers);
}

/** The same through child_process (where process_wrap is not to be used). */
function spawnWithChildProcess(
  command: string, file: string, argv: readonly string[], env: NodeJS.ProcessEnv, fds: readonly number[], detached: boolean, handlers: SpawnHandlers,
): number | null {
  let child: ChildProcess;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { spawn } = require("node:child_process") as typeof import("node:child_process");
    child = spawn(file, argv.slice(1), { argv0: argv[0], stdio: fds.map((fd) => (fd <= 2 ? "inherit" : fd)), env, detached, windowsHide: true });
  } catch (err) {
    // Synchronous failures (EINVAL for a NUL byte in argv, ...): report like async ones.
    const e = err as NodeJS.ErrnoException;
    return failLater(handlers, command, e.code ?? "EINVAL", e.message);
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
    handlers.onExit(fromNodeExit(code, signal));
  });
  return child.pid ?? null;
}

/** A spawn that failed before any process existed, reported as an async failure is (after the
 *  caller has returned null). */
function failLater(handlers: SpawnHandlers, command: string, code: string, message: string): null {
  const err = Object.assign(new Error(message), { code });
  queueMicrotask(() => handlers.onError(code, describeSpawnError(command, err)));
  return null;
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

/** What execvp would fail with for `command`: null if some PATH entry holds an executable
 *  regular file, "EACCES" if only non-executable ones exist, else "ENOENT". */
export function findExecutable(command: string, pathVar: string | undefined): "ENOENT" | "EACCES" | null {
  const candidates = command.includes("/")
    ? [command]
    : (pathVar ?? "/usr/local/bin:/usr/bin:/bin").split(":").map((dir) => path.join(dir || ".", command));
  let found: "ENOENT" | "EACCES" = "ENOENT";
  for (const file of candidates) {
    try {
      if (!statSync(file).isFile()) {
        found = "EACCES";
        continue;
      }
      accessSync(file, fsc.X_OK);
      return null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EACCES") found = "EACCES";
    }
  }
  return found;
}
