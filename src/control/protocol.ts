// The control socket's protocol: one JSON line each way per connection. Everything the server
// reads goes through parseRequest (and everything the client reads through parseResponse), fed
// by a LineSplitter that never holds more than one line's bound.

/** What a client asks. */
export type ControlRequest = { cmd: "restart"; timeoutMs: number; wait: RestartWait } | { cmd: "status" } | LogsRequest;

/** `pidone logs`: the kept output of one generation (the latest by default, or `generation`, or
 *  the one before the latest), its last `tail` lines only if given; with `follow`, then
 *  everything that generation and every later one print, until the client goes. */
export interface LogsRequest {
  cmd: "logs";
  follow: boolean;
  tail?: number;
  generation?: number | "previous";
}

/** The most lines `--tail` may ask for (more than a ring holds). */
export const MAX_TAIL_LINES = 1_000_000;
/** The largest frame of a logs stream, either side. */
export const MAX_LOGS_FRAME = 1 << 20;
/** A logs stream's frame types: app bytes, a new generation ({generation, pid} as JSON), bytes
 *  the client was too slow for ({bytes} as JSON). */
export const LOGS_FRAME = { data: 0x64, generation: 0x67, skipped: 0x73 } as const;

/** What `restart` waits for: the new generation ready (--ready-http/--ready-tcp, or with
 *  --overlap its readiness; else running), or only running. */
export type RestartWait = "ready" | "running";

/** Status as reported to `pidone status`. */
export interface StatusReport {
  state: string;
  pid: number | null;
  generation: number;
  uptimeMs: number | null;
  restarts: number;
  lastExit: string | null;
  lastRestartReason: string | null;
  /** Why the last failed restart failed (--overlap), when one did. */
  lastRestartFailure?: string;
  supervisorPid: number;
}

/** What the server answers. */
export type ControlResponse =
  /** `ms`: from the request to the new generation running, or ready. */
  | { ok: true; pid: number; generation: number; ms?: number }
  | { ok: true; status: StatusReport }
  | { ok: false; error: string };

/** The longest line either side accepts, newline excluded. A request is ~40 bytes. */
export const MAX_LINE_BYTES = 64 * 1024;
/** How long `restart` waits for the new app process when the request does not say. */
export const DEFAULT_RESTART_TIMEOUT_MS = 30_000;
/** The longest wait a request may ask for (an hour: beyond it, a client has surely gone). */
export const MAX_RESTART_TIMEOUT_MS = 3_600_000;
/** Requests and answers are flat objects; deeper JSON is refused before JSON.parse sees it. */
const MAX_DEPTH = 3;

/** The outcome of parsing one line: a value, or the one-line reason it was refused. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const fail = <T>(error: string): Parsed<T> => ({ ok: false, error });

/** Validate one request line (without its newline). Never throws. */
export function parseRequest(line: string): Parsed<ControlRequest> {
  const obj = parseObject(line, "request");
  if (!obj.ok) return obj;
  const o = obj.value;
  const cmd = o.cmd;
  if (cmd === undefined) return fail("missing field 'cmd' (use restart, status or logs)");
  if (typeof cmd !== "string") return fail("field 'cmd' must be a string (use restart, status or logs)");
  if (cmd === "status") {
    const extra = unknownField(o, ["cmd"]);
    return extra ? fail(extra) : { ok: true, value: { cmd } };
  }
  if (cmd === "restart") {
    const extra = unknownField(o, ["cmd", "timeoutMs", "wait"]);
    if (extra) return fail(extra);
    const w = o.wait ?? "ready";
    if (w !== "ready" && w !== "running") return fail("field 'wait' must be ready or running");
    const t = o.timeoutMs;
    if (t === undefined || t === null) return { ok: true, value: { cmd, timeoutMs: DEFAULT_RESTART_TIMEOUT_MS, wait: w } };
    if (typeof t !== "number" || !Number.isInteger(t) || t < 1 || t > MAX_RESTART_TIMEOUT_MS) {
      return fail(`field 'timeoutMs' must be a whole number of milliseconds from 1 to ${MAX_RESTART_TIMEOUT_MS}`);
    }
    return { ok: true, value: { cmd, timeoutMs: t, wait: w } };
  }
  if (cmd === "logs") return parseLogsRequest(o);
  return fail(`unknown command '${clip(cmd)}' (use restart, status or logs)`);
}

function parseLogsRequest(o: Record<string, unknown>): Parsed<ControlRequest> {
  const extra = unknownField(o, ["cmd", "follow", "tail", "generation"]);
  if (extra) return fail(extra);
  const follow = o.follow ?? false;
  if (typeof follow !== "boolean") return fail("field 'follow' must be true or false");
  const value: LogsRequest = { cmd: "logs", follow };
  if (o.tail !== undefined && o.tail !== null) {
    if (!isCount(o.tail) || o.tail > MAX_TAIL_LINES) return fail(`field 'tail' must be a whole number of lines from 0 to ${MAX_TAIL_LINES}`);
    value.tail = o.tail;
  }
  if (o.generation !== undefined && o.generation !== null) {
    if (o.generation !== "previous" && !(isCount(o.generation) && o.generation > 0)) return fail("field 'generation' must be a generation number (1, 2, ...) or \"previous\"");
    value.generation = o.generation;
  }
  return { ok: true, value };
}

/** One frame of a logs stream: its type, a 4-byte big-endian length, the payload. */
export function encodeFrame(type: number, payload: Uint8Array): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = type;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** Split a logs stream into frames; holds at most one frame's bytes between chunks. */
export class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0);

  /** Feed a chunk; returns the complete frames, or an error for a malformed stream. */
  push(chunk: Buffer): { type: number; payload: Buffer }[] | { error: string } {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: { type: number; payload: Buffer }[] = [];
    let at = 0;
    while (this.buf.length - at >= 5) {
      const type = this.buf[at] as number;
      const len = this.buf.readUInt32BE(at + 1);
      if (!Object.values(LOGS_FRAME).includes(type as never)) return { error: `malformed logs stream: frame type ${type}` };
      if (len > MAX_LOGS_FRAME) return { error: `malformed logs stream: a frame of ${len} bytes` };
      if (this.buf.length - at - 5 < len) break;
      out.push({ type, payload: this.buf.subarray(at + 5, at + 5 + len) });
      at += 5 + len;
    }
    this.buf = at === 0 ? this.buf : Buffer.from(this.buf.subarray(at));
    return out;
  }
}

/** Validate one answer line (the client's side of the same rules). Never throws. */
export function parseResponse(line: string): Parsed<ControlResponse> {
  const obj = parseObject(line, "answer");
  if (!obj.ok) return obj;
  const o = obj.value;
  if (o.ok === false) return typeof o.error === "string" ? { ok: true, value: { ok: false, error: clip(o.error, 500) } } : fail("malformed answer: no error text");
  if (o.ok !== true) return fail("malformed answer: no 'ok' field");
  if (isPid(o.pid) && isCount(o.generation)) {
    const ms = typeof o.ms === "number" && Number.isFinite(o.ms) && o.ms >= 0 ? { ms: o.ms } : {};
    return { ok: true, value: { ok: true, pid: o.pid, generation: o.generation, ...ms } };
  }
  const s = o.status;
  if (typeof s === "object" && s !== null && !Array.isArray(s)) {
    const r = s as Record<string, unknown>;
    const nullOr = (v: unknown, is: (x: unknown) => boolean) => v === null || is(v);
    const str = (x: unknown) => typeof x === "string";
    if (str(r.state) && nullOr(r.pid, isPid) && isCount(r.generation) && nullOr(r.uptimeMs, isCount) && isCount(r.restarts)
      && nullOr(r.lastExit, str) && nullOr(r.lastRestartReason, str) && isPid(r.supervisorPid)
      && (r.lastRestartFailure === undefined || str(r.lastRestartFailure))) {
      return { ok: true, value: { ok: true, status: r as unknown as StatusReport } };
    }
  }
  return fail("malformed answer: neither a pid nor a status");
}

/** The head of a logs stream (`{"ok":true,"logs":{"generation":N}}`, frames follow), or the
 *  server's refusal. Never throws. */
export function parseLogsHead(line: string): Parsed<{ ok: true; generation: number } | { ok: false; error: string }> {
  const obj = parseObject(line, "answer");
  if (!obj.ok) return obj;
  const o = obj.value;
  if (o.ok === false) return typeof o.error === "string" ? { ok: true, value: { ok: false, error: clip(o.error, 500) } } : fail("malformed answer: no error text");
  const logs = o.logs;
  if (o.ok === true && typeof logs === "object" && logs !== null && isCount((logs as Record<string, unknown>).generation)) {
    return { ok: true, value: { ok: true, generation: (logs as { generation: number }).generation } };
  }
  return fail("malformed answer: not the head of a logs stream");
}

function parseObject(line: string, what: string): Parsed<Record<string, unknown>> {
  if (Buffer.byteLength(line, "utf8") > MAX_LINE_BYTES) return fail(`${what} too long (the limit is ${MAX_LINE_BYTES} bytes)`);
  if (line.trim() === "") return fail(`empty ${what} (send one JSON object, e.g. {"cmd":"status"})`);
  if (depth(line) > MAX_DEPTH) return fail(`malformed ${what}: JSON nested too deeply`);
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return fail(`malformed ${what}: not JSON (send one JSON object per line, e.g. {"cmd":"status"})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return fail(`malformed ${what}: expected a JSON object, got ${v === null ? "null" : Array.isArray(v) ? "an array" : typeof v}`);
  }
  return { ok: true, value: v as Record<string, unknown> };
}

/** The deepest nesting of [ and { outside strings: a linear scan, so JSON.parse never meets a
 *  pathological document. Unbalanced input is left to JSON.parse to refuse. */
function depth(text: string): number {
  let d = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++d > max) max = d;
    } else if (c === 0x5d || c === 0x7d) d--;
  }
  return max;
}

function unknownField(o: Record<string, unknown>, known: readonly string[]): string | null {
  const extra = Object.keys(o).find((k) => !known.includes(k));
  return extra === undefined ? null : `unknown field '${clip(extra)}' (this command takes: ${known.join(", ")})`;
}

const isCount = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
const isPid = (x: unknown): x is number => isCount(x) && x > 0;

/** Echo at most `n` characters of client text in an answer or a log line. */
function clip(s: string, n = 40): string {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}

/** One event of a LineSplitter: a complete line, or the news that a line outgrew the bound. */
export type LineEvent = { kind: "line"; line: string } | { kind: "too-long" };

/** Split a byte stream into lines of at most `maxBytes`. Each chunk is scanned once, for its own
 *  newlines only, and at most `maxBytes` are kept between chunks: a line that outgrows the bound
 *  is reported once as too-long, and the splitter then stays stopped (the caller closes). */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private stopped = false;

  constructor(private readonly maxBytes = MAX_LINE_BYTES) {}

  /** Feed a chunk; returns the events it completes, in order. */
  push(chunk: Buffer): LineEvent[] {
    const out: LineEvent[] = [];
    let start = 0;
    while (!this.stopped && start <= chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      if (this.size + (end - start) > this.maxBytes) {
        this.stop();
        out.push({ kind: "too-long" });
        break;
      }
      if (nl < 0) {
        if (end > start) {
          // Copy: a slice would pin the whole (up to 64 KiB) chunk the socket read into.
          this.parts.push(Buffer.from(chunk.subarray(start, end)));
          this.size += end - start;
        }
        break;
      }
      const line = this.parts.length === 0 ? chunk.toString("utf8", start, nl) : Buffer.concat([...this.parts, chunk.subarray(start, nl)]).toString("utf8");
      this.parts = [];
      this.size = 0;
      out.push({ kind: "line", line: line.endsWith("\r") ? line.slice(0, -1) : line });
      start = nl + 1;
    }
    return out;
  }

  /** End of stream: an unterminated last line counts as a line (a client may send it without a
   *  newline and then shut down its write side). */
  end(): LineEvent[] {
    if (this.stopped || this.size === 0) return [];
    const line = Buffer.concat(this.parts).toString("utf8");
    this.stop();
    return [{ kind: "line", line: line.endsWith("\r") ? line.slice(0, -1) : line }];
  }

  private stop(): void {
    this.stopped = true;
    this.parts = [];
    this.size = 0;
  }
}
