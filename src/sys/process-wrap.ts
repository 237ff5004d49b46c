// Starting a process through libuv's process handle (uv_spawn), the very handle that
// child_process.spawn wraps, without loading node:child_process: that module brings node:net,
// node:dgram and the stream machinery with it, and with ChildProcess's own setup it costs about
// 4 ms of pidone's start on Node 22 (the app waits for it; `npm run bench`, section 1). The child
// is a libuv child as with child_process: libuv reaps it by its pid and reports its exit here, and
// pidone's own reaper never takes it (src/child/tree.ts).
//
// The handle comes from process.binding("process_wrap"), where Node lets it be taken quietly
// (src/sys/binding.ts); anywhere else processWrap() is null and pidone uses child_process, which
// behaves the same (src/child/spawn.ts; test/integration/spawn-paths.test.ts runs both).
//
// The handle's native side CHECKs its options' types and aborts the process on a wrong one:
// direct() builds them from strings and numbers only, and refuses a NUL byte (which it would
// otherwise cut the string at) as child_process does.
import { getSystemErrorName } from "node:util";
import { quietBinding } from "./binding.js";
import { fromNodeExit, type ExitStatus } from "../exit-status.js";

/** What process_wrap's Process is, as far as pidone uses it. */
interface ProcessHandle {
  pid?: number;
  onexit: (exitStatus: number, termSignal: string) => void;
  spawn(options: {
    file: string;
    args: string[];
    envPairs: string[];
    stdio: { type: "fd"; fd: number }[];
    detached: boolean;
    windowsHide: boolean;
  }): number;
  close(): void;
}
type ProcessCtor = new () => ProcessHandle;


/** A process started, with its pid; or an error code (ENOENT, EACCES, ...) and its message. */
export type DirectResult = { pid: number } | { errno: string; message: string };

let ctor: ProcessCtor | null | undefined;

/** The Process constructor, or null where it is missing or would warn (src/sys/binding.ts). */
export function processWrap(): ProcessCtor | null {
  if (ctor === undefined) {
    const Process = quietBinding<{ Process?: unknown }>("process_wrap")?.Process;
    ctor = typeof Process === "function" ? (Process as ProcessCtor) : null;
  }
  return ctor;
}

/** Start `file` with `args` (args[0] is its argv[0]), `env`, the descriptors `fds` as its 0, 1,
 *  2, 3... (inherited, as child_process's "inherit" and numbers), in a new session when
 *  `detached`. `onExit` is called once when it ends. Needs processWrap() to be non-null. */
export function direct(
  Process: ProcessCtor, file: string, args: readonly string[], env: NodeJS.ProcessEnv, fds: readonly number[], detached: boolean,
  onExit: (exit: ExitStatus) => void,
): DirectResult {
  const envPairs: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) envPairs.push(`${k}=${v}`);
  const nul = [file, ...args, ...envPairs].find((s) => s.includes("\0"));
  if (nul !== undefined) return { errno: "EINVAL", message: `a NUL byte in ${JSON.stringify(nul)}` };
  const handle = new Process();
  handle.onexit = (exitStatus, termSignal) => {
    handle.close();
    onExit(fromNodeExit(exitStatus, termSignal));
  };
  let err: number;
  try {
    err = handle.spawn({
      file, args: [...args], envPairs, stdio: fds.map((fd) => ({ type: "fd", fd })), detached, windowsHide: true,
    });
  } catch (e) {
    // What it throws rather than returns (a permission model's refusal): a failed spawn all the same.
    handle.close();
    const errno = (e as NodeJS.ErrnoException).code ?? "EINVAL";
    return { errno, message: `spawn ${file}: ${(e as Error).message}` };
  }
  if (err !== 0 || handle.pid === undefined) {
    handle.close();
    const errno = err < 0 ? getSystemErrorName(err) : "UNKNOWN";
    return { errno, message: `spawn ${file} ${errno}` };
  }
  return { pid: handle.pid };
}
