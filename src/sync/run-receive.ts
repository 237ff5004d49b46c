// `pidone receive REMOTE_DIR` as a command: wires the receiver to stdin/stdout and the control
// socket, and cleans up a batch in flight when the transport goes away (stdin ends, or kubectl /
// docker / sshd signal us).
import type { Invocation } from "../cli/program.js";
import { parseDuration } from "../cli/config.js";
import { controlSocketPath } from "../cli/control-socket-path.js";
import { releaseEarlySignals } from "../boot/release-early-signals.js";
import { RECEIVE_EXIT } from "../exit-code.js";
import { receive, resolveRemoteDir } from "./receiver.js";
import { restartAndWatch, watchAfter } from "./restart.js";
import { followOutput } from "./output-follow.js";

/** Run `pidone receive`; returns the exit code. */
export async function runReceive(inv: Extract<Invocation, { kind: "receive" }>): Promise<number> {
  releaseEarlySignals();
  const dir = resolveRemoteDir(inv.remoteDir);
  if ("error" in dir) {
    process.stderr.write(`pidone receive: ${dir.error}\n`);
    return RECEIVE_EXIT.usage;
  }
  const socket = controlSocketPath(inv.socket);
  const restartTimeoutMs = inv.timeout === undefined ? 30_000 : parseDuration(inv.timeout, "s", "--timeout");
  let signalled: NodeJS.Signals | null = null;
  // A signal ends the stream; receive() then discards the batch in flight (its temp files).
  const onSignal = (sig: NodeJS.Signals) => {
    signalled = sig;
    process.stdin.destroy();
  };
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP", "SIGPIPE"] as const) process.on(sig, onSignal);
  // EPIPE on stdout: the sender is gone; stop reading too.
  process.stdout.on("error", () => process.stdin.destroy());
  const code = await receive(dir.root, {
    remoteDir: inv.remoteDir,
    restart: (timeoutMs) => restartAndWatch(socket, timeoutMs),
    watchAfter: (pid, stop) => watchAfter(socket, pid, stop),
    followOutput: (fwd, stop) => followOutput(socket, fwd, stop, (line) => void process.stderr.write(`${line}\n`)),
    restartTimeoutMs,
    input: process.stdin,
    write: (frame) => void process.stdout.write(frame),
    backlog: () => process.stdout.writableLength,
    warn: (line) => void process.stderr.write(`${line}\n`),
  });
  return signalled ? RECEIVE_EXIT.interrupted : code;
}
