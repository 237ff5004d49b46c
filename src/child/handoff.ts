// Socket handoff (--listen): pidone binds and listens once, at startup, and every app generation
// gets the same sockets as fds 3, 4, ... with the systemd protocol (LISTEN_FDS, LISTEN_FDNAMES,
// LISTEN_PID). Between two generations the sockets stay open in pidone, so new connections wait
// in the kernel's backlog instead of being refused.
//
// LISTEN_PID must be the app's own pid, which is only known after fork, and Node's spawn cannot
// set the environment after fork. So the app is started through an exec shim that sets it to its
// own pid and execs the app in place (same pid):
//   - /bin/sh -c 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"' CMD ARGS...   when /bin/sh exists;
//   - node <this bundle> __exec-shim -- CMD ARGS...   otherwise (images without a shell): it sets
//     LISTEN_PID and calls execvp through koffi.
// Without --listen there is no shim and nothing of this runs.
import { existsSync, unlinkSync } from "node:fs";
import type { Logger } from "pino";
import { ConfigError } from "../cli/config.js";
import { describeBindError, fdName, type ListenAddress } from "../cli/listen-address.js";
import { loadSockets, SyscallError, type Sockets } from "../sys/sockets.js";
import type { SpawnVia } from "./spawn.js";
import { EXEC_SHIM_ARG } from "../cli/program.js";


/** Generous: a burst of connections during a restart must wait, not be dropped. The kernel caps
 *  it at net.core.somaxconn (4096 by default since Linux 5.4). */
const BACKLOG = 1024;

const SH = "/bin/sh";
const SH_SCRIPT = 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"';

/** Open every --listen socket, or throw a ConfigError naming the one that failed. Logs
 *  `listening` for each. Returns how to spawn the app, and a closer that removes unix socket files. */
export function openHandoff(addresses: readonly ListenAddress[], log: Logger, env: NodeJS.ProcessEnv = process.env): { via: SpawnVia; close(): void } {
  let sockets: Sockets;
  try {
    sockets = loadSockets();
  } catch (err) {
    throw new ConfigError(`--listen: cannot load the socket syscalls through koffi (${(err as Error).message})`);
  }
  const fds: number[] = [];
  for (const a of addresses) {
    try {
      fds.push(sockets.listen(a, BACKLOG));
    } catch (err) {
      for (const fd of fds) sockets.close(fd);
      if (err instanceof SyscallError) throw new ConfigError(describeBindError(err.code, a, "--listen"));
      throw err;
    }
  }
  addresses.forEach((a, i) => log.info({ event: "listening", fd: 3 + i, address: a.text }));
  const via: SpawnVia = {
    fds,
    env: { ...env, LISTEN_FDS: String(fds.length), LISTEN_FDNAMES: addresses.map(fdName).join(":") },
    shim: execShim(env),
  };
  return {
    via,
    close() {
      for (const a of addresses) {
        if (a.kind !== "unix") continue;
        try {
          unlinkSync(a.path);
        } catch {
          // already gone
        }
      }
    },
  };
}

/** The shim command. PIDONE_EXEC_SHIM=node forces the node shim (tests; undocumented). */
function execShim(env: NodeJS.ProcessEnv): string[] {
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
    code = loadSockets().exec(command, [command, ...args], keep);
  } catch (err) {
    code = (err as Error).message;
  }
  process.stderr.write(`pidone: ${command}: ${code === "ENOENT" ? "command not found" : `cannot execute (${code})`}\n`);
  return code === "ENOENT" ? 127 : 126;
}
