// The receiver's side of "see what the new code did": it follows the output of the generation a
// batch started (pidone's logs stream, --follow, over the control socket) and sends it to the
// sender as `output` notices. Never blocks the app or pidone: pidone's stream is read as fast as
// it comes, and what the transport cannot take (more than MAX_BACKLOG bytes waiting to go to the
// laptop) is dropped and counted, then reported as one `skipped` notice once it can take more.
import { openLogs } from "../control/client.js";
import { LOGS_FRAME } from "../control/protocol.js";
import { MAX_OUTPUT_CHUNK, MAX_TAIL_CHARS } from "./protocol.js";

/** Bytes waiting to go to the sender past which the app's output is dropped, not queued. */
export const MAX_BACKLOG = 1 << 20;
/** How long a logs request waits its turn while pidone's control socket is busy. */
const LOGS_TIMEOUT_MS = 5000;
/** Lines of a generation's kept output read for a crash whose outcome came without its tail. */
const TAIL_LINES = 60;

/** Where the output of one batch's generation goes: `send` a notice, `backlog` the bytes still
 *  waiting to go out (the transport's stdout). */
export interface OutputSink {
  send: (header: object, payload?: Buffer) => void;
  backlog: () => number;
}

/** The app's output of batch `id`, to the sender in bounded frames; what does not fit is counted. */
export class OutputForwarder {
  private skipped = 0;

  constructor(private readonly id: number, private readonly sink: OutputSink, private readonly maxBacklog = MAX_BACKLOG) {}

  /** The app printed `bytes`: send them, or count them if the transport is behind. */
  data(bytes: Buffer): void {
    if (this.sink.backlog() > this.maxBacklog) {
      this.skipped += bytes.length;
      return;
    }
    this.flushSkipped();
    for (let at = 0; at < bytes.length; at += MAX_OUTPUT_CHUNK) this.sink.send({ t: "output", id: this.id }, bytes.subarray(at, at + MAX_OUTPUT_CHUNK));
  }

  /** `bytes` of the output were lost before they reached us (pidone's ring overwrote them). */
  lost(bytes: number): void {
    this.skipped += bytes;
  }

  /** Report what was dropped, once the transport can take the notice. */
  flushSkipped(): void {
    if (this.skipped === 0 || this.sink.backlog() > this.maxBacklog) return;
    this.sink.send({ t: "skipped", id: this.id, bytes: this.skipped });
    this.skipped = 0;
  }

  /** Bytes dropped and not reported yet. */
  get pending(): number {
    return this.skipped;
  }
}

/** Follow the output of the latest generation (from its start, and the generations after it)
 *  into `fwd` until `stop` aborts. Asked right after a restart answered, the latest is the one it
 *  started, whatever its number (a failed --overlap attempt shares its number with the attempt
 *  after it). Never throws; a stream pidone cannot give is reported with `warn`. */
export async function followOutput(socket: string, fwd: OutputForwarder, stop: AbortSignal, warn: (line: string) => void): Promise<void> {
  if (stop.aborted) return;
  const stream = await openLogs(socket, { cmd: "logs", follow: true }, LOGS_TIMEOUT_MS, (type, payload) => {
    if (type === LOGS_FRAME.data) fwd.data(payload);
    else if (type === LOGS_FRAME.skipped) fwd.lost(skippedBytes(payload));
  });
  if ("error" in stream) {
    if (!stop.aborted) warn(`pidone receive: cannot follow the app's output: ${stream.error}`);
    return;
  }
  const onAbort = () => stream.stop();
  stop.addEventListener("abort", onAbort, { once: true });
  if (stop.aborted) stream.stop();
  // A drop reported as soon as the transport has room, not only with the next output.
  const tick = setInterval(() => fwd.flushSkipped(), 200);
  try {
    await stream.ended;
  } finally {
    clearInterval(tick);
    stop.removeEventListener("abort", onAbort);
  }
}

/** How long latestTail waits for the exited process's last output to reach pidone's ring. */
const TAIL_WAIT_MS = 1000;
const TAIL_POLL_MS = 25;

/** The last lines the latest process pidone started printed, as text (at most MAX_TAIL_CHARS,
 *  its end); null when it printed nothing. Asked right after it exited, its output may still sit
 *  in the pipes pidone reads: asked again (every 25 ms, within TAIL_WAIT_MS) while empty. Never throws. */
export async function latestTail(socket: string): Promise<string | null> {
  const until = performance.now() + TAIL_WAIT_MS;
  for (;;) {
    const tail = await latestTailOnce(socket);
    if (tail !== null || performance.now() >= until) return tail;
    await new Promise((r) => setTimeout(r, TAIL_POLL_MS));
  }
}

async function latestTailOnce(socket: string): Promise<string | null> {
  const parts: Buffer[] = [];
  let size = 0;
  const stream = await openLogs(socket, { cmd: "logs", follow: false, tail: TAIL_LINES }, LOGS_TIMEOUT_MS, (type, payload) => {
    if (type !== LOGS_FRAME.data) return;
    parts.push(payload);
    size += payload.length;
    // Keep only what the tail can hold (4 bytes per character at most).
    while (parts.length > 1 && size - (parts[0] as Buffer).length >= MAX_TAIL_CHARS * 4) size -= (parts.shift() as Buffer).length;
  });
  if ("error" in stream) return null;
  await stream.ended;
  const text = Buffer.concat(parts).toString("utf8");
  if (text === "") return null;
  return text.length <= MAX_TAIL_CHARS ? text : text.slice(text.length - MAX_TAIL_CHARS);
}

function skippedBytes(payload: Buffer): number {
  try {
    const n = (JSON.parse(payload.toString("utf8")) as { bytes?: unknown }).bytes;
    return typeof n === "number" && Number.isSafeInteger(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}
