// `pidone logs` on the server: the kept output of a generation (src/output/capture.ts), then,
// with --follow, what it and every later generation print, as frames (protocol.ts). A client
// that reads slower than the app prints never holds pidone's memory: at most about
// MAX_BUFFERED bytes wait in the socket, the rest is read again from the rings when the socket
// drains, and what a ring overwrote meanwhile is reported as skipped.
import type { Socket } from "node:net";
import type { GenerationOutput, OutputSource } from "../output/capture.js";
import { encodeFrame, LOGS_FRAME, MAX_LOGS_FRAME, type LogsRequest } from "./protocol.js";

/** Bytes queued in the client's socket before pidone waits for it to drain. */
const MAX_BUFFERED = 1 << 20;

/** The generation a request names, or why there is none. */
export function pickGeneration(kept: readonly GenerationOutput[], req: LogsRequest): GenerationOutput | string {
  const range = kept.length === 0 ? "none yet" : `${(kept[0] as GenerationOutput).generation} to ${(kept[kept.length - 1] as GenerationOutput).generation}`;
  if (req.generation === undefined) return kept[kept.length - 1] ?? "no generation has started yet";
  if (req.generation === "previous") return kept[kept.length - 2] ?? `no previous generation is kept (kept: ${range})`;
  // An --overlap attempt that failed and the one after it share a number: the later one.
  return [...kept].reverse().find((g) => g.generation === req.generation) ?? `generation ${req.generation} is not kept (kept: ${range})`;
}

/** Stream the logs `req` asks for on `conn` (after its head line); returns what stops it. */
export function streamLogs(conn: Socket, req: LogsRequest, output: OutputSource, first: GenerationOutput): () => void {
  // The generations streamed, from `first` on, and how far each has been sent.
  const offsets = new Map<GenerationOutput, number>();
  offsets.set(first, req.tail === undefined ? first.ring.start : first.ring.lineOffset(req.tail));
  // Following from an older generation (--previous, --generation N) goes on through the later
  // ones already kept, the current one included, not only those started from now on.
  if (req.follow) for (const g of output.generations()) if (g.generation > first.generation) offsets.set(g, g.ring.start);
  let current: GenerationOutput = first;
  let waiting = false;
  let over = false;
  const send = (frame: Buffer): boolean => conn.write(frame);
  const pump = () => {
    if (over || waiting) return;
    for (const [gen, offset] of offsets) {
      const { ring } = gen;
      if (ring.total === offset && gen !== current) {
        if (!gen.open && gen !== [...offsets.keys()].pop()) offsets.delete(gen);
        continue;
      }
      if (gen !== current && ring.total > offset) {
        current = gen;
        send(encodeFrame(LOGS_FRAME.generation, Buffer.from(JSON.stringify({ generation: gen.generation, pid: gen.pid }))));
      }
      let at = offset;
      if (ring.start > at) {
        send(encodeFrame(LOGS_FRAME.skipped, Buffer.from(JSON.stringify({ bytes: ring.start - at }))));
        at = ring.start;
      }
      while (at < ring.total) {
        const bytes = ring.since(at).subarray(0, MAX_LOGS_FRAME);
        at += bytes.length;
        offsets.set(gen, at);
        if (!send(encodeFrame(LOGS_FRAME.data, bytes)) && conn.writableLength > MAX_BUFFERED) {
          waiting = true;
          conn.once("drain", () => {
            waiting = false;
            pump();
          });
          return;
        }
      }
      offsets.set(gen, at);
    }
    if (!req.follow) {
      over = true;
      conn.end();
    }
  };
  const unsubscribe = req.follow ? output.follow((e) => {
    if (e.kind === "generation" && e.gen.generation > first.generation && !offsets.has(e.gen)) {
      offsets.set(e.gen, e.gen.ring.start);
      // A new generation is marked on its own, before it prints anything.
      current = e.gen;
      send(encodeFrame(LOGS_FRAME.generation, Buffer.from(JSON.stringify({ generation: e.gen.generation, pid: e.gen.pid }))));
    }
    pump();
  }) : () => {};
  pump();
  return () => {
    over = true;
    unsubscribe();
  };
}
