// The exec shim for --listen: LISTEN_PID must be the app's own pid, known only after fork, and
// Node's spawn cannot set the environment after fork. So the app is started through a program
// that sets it to its own pid and execs the app in place (same pid):
//   - /bin/sh -c 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"' CMD ARGS...   when /bin/sh exists;
//   - node <this bundle> __exec-shim -- CMD ARGS...   otherwise (images without a shell): it sets
//     LISTEN_PID and calls execvp through koffi (src/sys/exec.ts).
import { existsSync } from "node:fs";
import { EXEC_SHIM_ARG } from "../cli/program.js";
import { loadExec } from "../sys/exec.js";

const SH = "/bin/sh";
const SH_SCRIPT = 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"';

/** The shim command. PIDONE_EXEC_SHIM=node forces the node shim (tests; undocumented). */
export function execShim(env: NodeJS.ProcessEnv): string[] {
  if (env.PIDONE_EXEC_SHIM !== "node" && existsSync(SH)) return [SH, "-c", SH_SCRIPT];
  // __filename is the bundle, also when it is loaded by a launcher script (Dockerfile.example).
  const flags = process.execArgv.filter((f) => f === "--disable-sigusr1");
  return [process.execPath, ...flags, __filename, EXEC_SHIM_ARG, "--"];
}

/** The node exec shim: `__exec-shim -- CMD ARGS...`. Sets LISTEN_PID to its own pid and execs
 *  the app in place. Returns an exit code only if that failed (127 not found, 126 otherwise,
 *  as a shell would); pidone looked the command up before, so this is a race with its deletion. */
export function runExecShim(argv: readonly string[]): number {
  const [command, ...args] = argv[0] === "--" ? argv.slice(1) : argv;
  if (command === undefined) {
    process.stderr.write("pidone __exec-shim: no command\n");
    return 2;
  }
  // process.env writes through to the C environment that execvp passes on.
  process.env.LISTEN_PID = String(process.pid);
  let code: string;
  try {
    const listenFds = Number(process.env.LISTEN_FDS ?? 0) || 0;
    const keep = [0, 1, 2, ...Array.from({ length: Math.min(listenFds, 1000) }, (_, i) => 3 + i)];
    code = loadExec()(command, [command, ...args], keep);
  } catch (err) {
    code = (err as Error).message;
  }
  process.stderr.write(`pidone: ${command}: ${code === "ENOENT" ? "command not found" : `cannot execute (${code})`}\n`);
  return code === "ENOENT" ? 127 : 126;
}
