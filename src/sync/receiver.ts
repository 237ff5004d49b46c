// `pidone receive REMOTE_DIR`: the container's end of `pidone sync`, spoken to over stdin/stdout
// through whatever transport the sender ran (kubectl exec, docker exec, ssh). Every path stays
// inside REMOTE_DIR and nothing is written through a symlink (confine.ts); a batch is staged as
// temporary files beside their targets, validated whole, and only then renamed into place
// (staging.ts), so the app never reads half a file and a bad stream leaves REMOTE_DIR as it was.
// Then pidone is asked for a restart, and what the generation it started prints is followed and
// sent to the sender until the next batch (output-follow.ts). The protocol's phases are one union,
// driven by next().
import { realpathSync, statSync } from "node:fs";
import {
  PROTOCOL_VERSION, ProtocolError, TREE_CHUNK, decodeSenderMessage, encodeFrame, readFrames,
  type RestartOutcome, type SenderMessage,
} from "./protocol.js";
import { Batch, dropFile, type OpenFile } from "./staging.js";
import { OutputForwarder } from "./output-follow.js";
import { hashOne, listTree } from "./remote-tree.js";
import { SKIP_DIRS } from "./ignore-rules.js";
import { RECEIVE_EXIT } from "../exit-code.js";

/** What `pidone receive` needs besides its stream. */
export interface ReceiveOptions {
  remoteDir: string;
  /** Ask for a restart after a batch (when the sender asks for one): how. */
  restart: (timeoutMs: number) => Promise<RestartOutcome>;
  /** Follow the generation a batch started; resolves with its exit status if it dies. */
  watchAfter: (pid: number, stop: AbortSignal) => Promise<string | null>;
  /** Follow the output of the generation just started (and later ones) into `fwd` until `stop` aborts. */
  followOutput: (fwd: OutputForwarder, stop: AbortSignal) => Promise<void>;
  restartTimeoutMs: number;
  input: AsyncIterable<Buffer> & { destroy(): void };
  write: (frame: Buffer) => void;
  /** Bytes written and not yet taken by the transport. */
  backlog: () => number;
  warn: (line: string) => void;
}

/** Where the receiver is in the protocol; each phase holds what belongs to it. */
export type ReceivePhase =
  /** Nothing may come before the sender's hello. */
  | { kind: "awaiting-hello" }
  /** Between batches: hash requests, or the begin of a batch. */
  | { kind: "idle" }
  /** After a batch whose restart came up: as idle, while `stop` ends the watch over the
   *  generation it started and the following of its output (the next batch or the end of the
   *  stream aborts both). */
  | { kind: "after-batch"; id: number; stop: AbortController }
  /** Inside a batch, between operations: `batch` holds what is staged. */
  | { kind: "batch"; batch: Batch }
  /** Inside a batch, in the middle of a file: only its chunks may come. */
  | { kind: "file"; batch: Batch; file: OpenFile };

/** Check REMOTE_DIR before reading the stream; returns its real path or a one-line reason. */
export function resolveRemoteDir(dir: string): { root: string } | { error: string } {
  try {
    const root = realpathSync(dir);
    if (!statSync(root).isDirectory()) return { error: `REMOTE_DIR '${dir}' is not a directory` };
    return { root };
  } catch (err) {
    return { error: `REMOTE_DIR '${dir}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (create it first, e.g. in the image)` };
  }
}

/** Serve one sender until its stream ends; returns the exit code. */
export async function receive(root: string, opts: ReceiveOptions): Promise<number> {
  const send = (msg: object) => opts.write(encodeFrame(msg));
  let phase: ReceivePhase = { kind: "awaiting-hello" };
  try {
    for await (const frame of readFrames(opts.input)) phase = await next(phase, decodeSenderMessage(frame), root, opts, send);
  } catch (err) {
    const inBatch = discard(phase);
    const message = err instanceof ProtocolError ? err.message : `${(err as NodeJS.ErrnoException).code ?? "error"}: ${(err as Error).message}`;
    opts.warn(`pidone receive: ${message}; ${inBatch ? "batch discarded, REMOTE_DIR unchanged" : "stopped"}`);
    try {
      send({ t: "error", message });
    } catch {
      // the sender is gone
    }
    return RECEIVE_EXIT.refused;
  }
  if (discard(phase)) {
    opts.warn("pidone receive: the stream ended inside a batch; batch discarded, REMOTE_DIR unchanged");
    return RECEIVE_EXIT.interrupted;
  }
  return RECEIVE_EXIT.ok;
}

/** The one transition function: what `msg` does in `phase`, and the phase after it. Throws
 *  ProtocolError for a frame the phase does not allow (receive() then discards the phase). */
async function next(phase: ReceivePhase, msg: SenderMessage, root: string, opts: ReceiveOptions, send: (msg: object) => void): Promise<ReceivePhase> {
  switch (phase.kind) {
    case "awaiting-hello": {
      if (msg.t !== "hello") throw new ProtocolError(`expected hello, got '${msg.t}'`);
      if (msg.v !== PROTOCOL_VERSION) throw new ProtocolError(`sender speaks protocol ${msg.v}, this pidone speaks ${PROTOCOL_VERSION} (install the same pidone version on both ends)`);
      send({ t: "hello", v: PROTOCOL_VERSION, root });
      const entries = listTree(root, new Set([...SKIP_DIRS, ...msg.skip]));
      for (let i = 0; i < entries.length; i += TREE_CHUNK) send({ t: "tree", entries: entries.slice(i, i + TREE_CHUNK) });
      send({ t: "tree-end" });
      return { kind: "idle" };
    }
    case "idle":
    case "after-batch":
      if (msg.t === "hash") {
        send({ t: "hashes", hashes: msg.paths.map((p) => [p, hashOne(root, p)]) });
        return phase;
      }
      if (msg.t === "begin") {
        if (phase.kind === "after-batch") phase.stop.abort();
        return { kind: "batch", batch: new Batch(msg.id, root) };
      }
      throw new ProtocolError(`'${msg.t}' frame outside a batch`);
    case "file": {
      const { batch, file } = phase;
      if (msg.t !== "chunk") throw new ProtocolError(`file '${file.rel}' is short by ${file.remaining} bytes`);
      if (msg.data.length > file.remaining) throw new ProtocolError(`file '${file.rel}': more data than its size`);
      return batch.write(file, msg.data) ? { kind: "batch", batch } : phase;
    }
    case "batch": {
      const { batch } = phase;
      switch (msg.t) {
        case "file": {
          const file = batch.openFile(msg.path, msg.size, msg.exec, msg.mtimeMs);
          return batch.write(file, msg.data) ? phase : { kind: "file", batch, file };
        }
        case "chunk":
          throw new ProtocolError("chunk without a file");
        case "symlink":
          batch.symlink(msg.path, msg.target);
          return phase;
        case "mkdir":
          batch.mkdir(msg.path);
          return phase;
        case "delete":
          batch.delete(msg.path);
          return phase;
        case "chmod":
          batch.chmod(msg.path, msg.exec);
          return phase;
        case "commit": {
          if (msg.id !== batch.id) throw new ProtocolError(`commit of batch ${msg.id} inside batch ${batch.id}`);
          batch.commit();
          send({ t: "applied", id: batch.id, files: batch.files, bytes: batch.bytes, ms: Math.round(performance.now() - batch.startedAt) });
          const restart: RestartOutcome = msg.restart ? await opts.restart(opts.restartTimeoutMs) : { kind: "skipped" };
          send({ t: "result", id: batch.id, restart });
          if (restart.kind !== "up" && restart.kind !== "ready") return { kind: "idle" };
          return { kind: "after-batch", id: batch.id, stop: watchGeneration(batch.id, restart, opts, send) };
        }
        default:
          throw new ProtocolError(`'${msg.t}' frame inside a batch`);
      }
    }
  }
}

/** Follow the generation batch `id` started: its output as `output` notices, and a `crashed`
 *  notice if it dies, until `stop` aborts. */
function watchGeneration(id: number, restart: Extract<RestartOutcome, { kind: "up" | "ready" }>, opts: ReceiveOptions, send: (msg: object) => void): AbortController {
  const stop = new AbortController();
  const fwd = new OutputForwarder(id, {
    send: (header, payload) => {
      if (!stop.signal.aborted) opts.write(encodeFrame(header, payload));
    },
    backlog: opts.backlog,
  });
  void opts.followOutput(fwd, stop.signal);
  void opts.watchAfter(restart.newPid, stop.signal).then((status) => {
    if (status !== null && !stop.signal.aborted) {
      try {
        send({ t: "crashed", id, pid: restart.newPid, status });
      } catch {
        // the sender is gone
      }
    }
  });
  return stop;
}

/** Leave `phase` for good: end its watch, remove its temporary files. True if it was inside a batch. */
function discard(phase: ReceivePhase): boolean {
  switch (phase.kind) {
    case "after-batch":
      phase.stop.abort();
      return false;
    case "file":
      dropFile(phase.file);
      phase.batch.abort();
      return true;
    case "batch":
      phase.batch.abort();
      return true;
    default:
      return false;
  }
}
