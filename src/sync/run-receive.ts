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
import net from "node:net";
import type { Writable } from "node:stream";

/** How long the receiver waits, at its end, for its last frames to reach the transport. */
const FLUSH_TIMEOUT_MS = 5000;

/** The stream to the sender. Node writes to a pipe on stdout synchronously, blocking the whole
 *  receiver while the transport is full; a socket of its own over fd 1 writes asynchronously and
 *  counts what waits (writableLength), so the app's output can be dropped instead of waited for. */
function toSender(): Writable {
  try {
    return new net.Socket({ fd: 1, readable: false, writable: true });
  } catch {
    // Not a pipe or socket (a file, a terminal): the ordinary stdout.
    return process.stdout;
  }
}

/** Wait until what was written to `out` is taken by the transport (or it is gone, or FLUSH_TIMEOUT_MS). */
function flushed(out: Writable): Promise<void> {
  if (out === process.stdout || out.writableLength === 0 || out.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, FLUSH_TIMEOUT_MS);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    out.once("drain", done);
    out.once("error", done);
    out.once("close", done);
  });
}

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
  const out = toSender();
  // EPIPE on stdout: the sender is gone; stop reading too.
  out.on("error", () => process.stdin.destroy());
  const code = await receive(dir.root, {
    remoteDir: inv.remoteDir,
    restart: (timeoutMs) => restartAndWatch(socket, timeoutMs),
    watchAfter: (pid, stop) => watchAfter(socket, pid, stop),
    followOutput: (fwd, stop) => followOutput(socket, fwd, stop, (line) => void process.stderr.write(`${line}\n`)),
    restartTimeoutMs,
    input: process.stdin,
    write: (frame) => void out.write(frame),
    backlog: () => out.writableLength,
    warn: (line) => void process.stderr.write(`${line}\n`),
  });
  await flushed(out);
  return signalled ? RECEIVE_EXIT.interrupted : code;
}
