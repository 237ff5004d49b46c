// The exec shim: a program the app is started through, which does in the app's own process,
// after fork, what Node's spawn cannot, then execs the app in place (same pid).
//   - --listen: LISTEN_PID must be the app's own pid, known only after fork.
//       /bin/sh -c 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"' CMD ARGS...   when /bin/sh exists;
//       node <this bundle> __exec-shim --listen-pid -- CMD ARGS...   otherwise (images without a shell).
//   - a terminal on stdin: the app gets its own process group in pidone's session and that group
//     becomes the terminal's foreground (tini's tcsetpgrp), so ^C reaches the app, not pidone,
//     and the app has job control:  node <this bundle> __exec-shim --terminal [--listen-pid] -- CMD ARGS...
//     (sh cannot call tcsetpgrp). Node's spawn cannot run code between fork and exec, and once
//     it returns the child has exec'ed, so setpgid from pidone would fail with EACCES.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { EXEC_SHIM_ARG } from "./exec-shim-arg.js";
import { loadExec } from "../sys/exec.js";
import { takeEarlySignals } from "../boot/release-early-signals.js";

const SH = "/bin/sh";
const SH_SCRIPT = 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"';

/** What the shim does before it execs the app. */
export interface ShimOptions {
  /** Set LISTEN_PID to the app's pid (--listen). */
  listenPid: boolean;
  /** Put the app in its own process group and give it the terminal on fd 0. */
  terminal: boolean;
}

/** The shim command. PIDONE_EXEC_SHIM=node forces the node shim (tests; undocumented). */
export function execShim(env: NodeJS.ProcessEnv, opts: ShimOptions = { listenPid: true, terminal: false }): string[] {
  if (!opts.terminal && env.PIDONE_EXEC_SHIM !== "node" && existsSync(SH)) return [SH, "-c", SH_SCRIPT];
  // __filename is the bundle (dist/pidone-main.cjs), also when it is loaded by a launcher script
  // (Dockerfile.example); the entry beside it adds the early handlers and the code cache.
  const entry = path.join(path.dirname(__filename), "pidone.cjs");
  const flags = process.execArgv.filter((f) => f === "--disable-sigusr1");
  return [
    ...nodeCommand(), ...flags, existsSync(entry) ? entry : __filename, EXEC_SHIM_ARG,
    ...(opts.listenPid ? ["--listen-pid"] : []), ...(opts.terminal ? ["--terminal"] : []), "--",
  ];
}

/** The command that runs this node again: its binary, or the loader invocation that ran it. */
function nodeCommand(): string[] {
  // The standalone layout (scripts/standalone.mjs) runs `lib/ld-linux-*.so.* --library-path lib
  // node bundle ...`; then process.execPath is the loader, which cannot run a script by itself.
  // /proc/self/cmdline is [loader, ...its options, node, ...execArgv, bundle, ...args] and
  // process.argv is [execPath, bundle, ...args]: the loader's part is what precedes node's flags.
  if (!/^ld-.*\.so/.test(path.basename(process.execPath))) return [process.execPath];
  const cmdline = readFileSync("/proc/self/cmdline", "utf8").split("\0").slice(0, -1);
  return cmdline.slice(0, cmdline.length - process.execArgv.length - (process.argv.length - 1));
}

/** The node exec shim: `__exec-shim [--listen-pid] [--terminal] -- CMD ARGS...`. Execs the app
 *  in place. Resolves to an exit code only if that failed (127 not found, 126 otherwise, as a
 *  shell would); pidone looked the command up before, so this is a race with its deletion.
 *  A signal that reaches the shim before the exec ends it with that signal's default action,
 *  as it would have ended the app before the app installed its handlers. */
export async function runExecShim(argv: readonly string[]): Promise<number> {
  const end = argv.indexOf("--");
  const flags = end < 0 ? [] : argv.slice(0, end);
  const [command, ...args] = end < 0 ? argv : argv.slice(end + 1);
  if (command === undefined) {
    process.stderr.write("pidone __exec-shim: no command\n");
    return 2;
  }
  let code: string;
  try {
    const sys = loadExec();
    // Signals from here on take their default action. Those that came since the bundle's early
    // handlers went in (src/boot/early-signals.js) were caught: libuv's handler wrote them to its
    // signal pipe, which the event loop reads in its poll phase. One loop turn (the poll, then
    // setImmediate's check phase) hands them all to the early handlers' queue; each is then
    // raised again, now with its default action, so the stop pidone asked for happens and the
    // status pidone sees is that signal. Nothing falls between: a signal is caught before the
    // reset and replayed, or arrives after it and acts at once.
    sys.defaultSignals();
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (const signal of takeEarlySignals()) process.kill(process.pid, signal as NodeJS.Signals);
    // process.env writes through to the C environment that execvp passes on.
    if (flags.includes("--listen-pid")) process.env.LISTEN_PID = String(process.pid);
    if (flags.includes("--terminal")) {
      // Not fatal: without the terminal the app still runs, as it would without a TTY.
      const failed = sys.takeTerminal();
      if (failed !== null) process.stderr.write(`pidone: cannot give the terminal to ${command} (${failed}); it runs without job control\n`);
    }
    const listenFds = flags.includes("--listen-pid") ? Number(process.env.LISTEN_FDS ?? 0) || 0 : 0;
    const keep = [0, 1, 2, ...Array.from({ length: Math.min(listenFds, 1000) }, (_, i) => 3 + i)];
    code = sys.exec(command, [command, ...args], keep);
  } catch (err) {
    code = (err as Error).message;
  }
  process.stderr.write(`pidone: ${command}: ${code === "ENOENT" ? "command not found" : `cannot execute (${code})`}\n`);
  return code === "ENOENT" ? 127 : 126;
}
