// The control socket's protocol: one JSON line each way per connection. Everything the server
// reads goes through parseRequest (and everything the client reads through parseResponse), fed
// by a LineSplitter (src/line-splitter.ts) bounded by MAX_LINE_BYTES.

/** What a client asks. `settleMs`: without a readiness check, how long the new generation must
 *  stay up to count as up. */
export type ControlRequest = { cmd: "restart"; timeoutMs: number; wait: RestartWait; settleMs: number } | { cmd: "status" } | LogsRequest;

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
  /** The last generation that exited on its own; with state `broken`, the one pidone waits to
   *  replace (pid null: it could not be spawned). */
  lastCrash?: CrashReport;
  supervisorPid: number;
}

/** A generation that exited on its own, as `pidone status` shows it. */
export interface CrashReport {
  generation: number;
  pid: number | null;
  status: string;
  upMs: number;
  agoMs: number;
  /** Started by a change and gone within the change window: pidone waits for the next one. */
  afterChange: boolean;
}

/** How a restart ended, from pidone's own account. `ms`: from the request to this outcome;
 *  `oldPid`: the generation serving when the request came. */
export type RestartResult =
  /** Its readiness check passed: --ready-http/--ready-tcp, or --overlap's handover (`how`). */
  | { kind: "ready"; pid: number; generation: number; oldPid: number | null; ms: number; how: string }
  /** No readiness check: it stayed up `upMs` (the settle window). */
  | { kind: "up"; pid: number; generation: number; oldPid: number | null; ms: number; upMs: number }
  /** Asked to wait only until it runs. */
  | { kind: "running"; pid: number; generation: number; oldPid: number | null; ms: number }
  /** It exited (`status`) after `upMs`, before it was ready or up; `tail`: what it printed last. */
  | { kind: "crashed"; pid: number | null; generation: number; oldPid: number | null; ms: number; status: string; upMs: number; tail: string | null }
  /** --overlap: the next generation failed (`reason`, its `status` if it exited) and `oldPid`
   *  serves on. */
  | { kind: "kept"; pid: number | null; generation: number; oldPid: number; ms: number; reason: string; status: string | null; tail: string | null };

/** What the server answers. A restart's answer carries its outcome: ok for ready, up and
 *  running; not ok (with the error in one line) for crashed and kept. */
export type ControlResponse =
  /** `ms`: from the request to the new generation running, or ready. */
  | { ok: true; pid: number; generation: number; ms?: number; outcome?: RestartResult }
  | { ok: true; status: StatusReport }
  | { ok: false; error: string; outcome?: RestartResult };

/** The longest line either side accepts, newline excluded. A request is ~40 bytes. */
export const MAX_LINE_BYTES = 64 * 1024;
/** How long `restart` waits for the new app process when the request does not say. */
export const DEFAULT_RESTART_TIMEOUT_MS = 30_000;
/** The longest wait a request may ask for (an hour: beyond it, a client has surely gone). */
export const MAX_RESTART_TIMEOUT_MS = 3_600_000;
/** How long a new generation without a readiness check must stay up to count as up. */
export const DEFAULT_SETTLE_MS = 1000;
/** The longest settle window a request may ask for. */
export const MAX_SETTLE_MS = 600_000;
/** The most of an output tail an answer carries (the end of it, in characters): with JSON's
 *  escapes the answer stays under MAX_LINE_BYTES. */
export const MAX_TAIL_CHARS = 8 * 1024;
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
    const extra = unknownField(o, ["cmd", "timeoutMs", "wait", "settleMs"]);
    if (extra) return fail(extra);
    const w = o.wait ?? "ready";
    if (w !== "ready" && w !== "running") return fail("field 'wait' must be ready or running");
    const t = o.timeoutMs ?? DEFAULT_RESTART_TIMEOUT_MS;
    if (!isCount(t) || t < 1 || t > MAX_RESTART_TIMEOUT_MS) {
      return fail(`field 'timeoutMs' must be a whole number of milliseconds from 1 to ${MAX_RESTART_TIMEOUT_MS}`);
    }
    const settle = o.settleMs ?? DEFAULT_SETTLE_MS;
    if (!isCount(settle) || settle > MAX_SETTLE_MS) return fail(`field 'settleMs' must be a whole number of milliseconds from 0 to ${MAX_SETTLE_MS}`);
    return { ok: true, value: { cmd, timeoutMs: t, wait: w, settleMs: settle } };
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
  const outcome = o.outcome === undefined ? undefined : parseOutcome(o.outcome);
  if (outcome === null) return fail("malformed answer: a bad restart outcome");
  const withOutcome = outcome === undefined ? {} : { outcome };
  if (o.ok === false) {
    if (typeof o.error !== "string") return fail("malformed answer: no error text");
    if (outcome && outcome.kind !== "crashed" && outcome.kind !== "kept") return fail("malformed answer: a failure with a success's outcome");
    return { ok: true, value: { ok: false, error: clip(o.error, 500), ...withOutcome } };
  }
  if (o.ok !== true) return fail("malformed answer: no 'ok' field");
  if (isPid(o.pid) && isCount(o.generation)) {
    if (outcome && (outcome.kind === "crashed" || outcome.kind === "kept")) return fail("malformed answer: a success with a failure's outcome");
    const ms = typeof o.ms === "number" && Number.isFinite(o.ms) && o.ms >= 0 ? { ms: o.ms } : {};
    return { ok: true, value: { ok: true, pid: o.pid, generation: o.generation, ...ms, ...withOutcome } };
  }
  const s = o.status;
  if (typeof s === "object" && s !== null && !Array.isArray(s)) {
    const r = s as Record<string, unknown>;
    const nullOr = (v: unknown, is: (x: unknown) => boolean) => v === null || is(v);
    const str = (x: unknown) => typeof x === "string";
    if (str(r.state) && nullOr(r.pid, isPid) && isCount(r.generation) && nullOr(r.uptimeMs, isCount) && isCount(r.restarts)
      && nullOr(r.lastExit, str) && nullOr(r.lastRestartReason, str) && isPid(r.supervisorPid)
      && (r.lastRestartFailure === undefined || str(r.lastRestartFailure)) && (r.lastCrash === undefined || isCrashReport(r.lastCrash))) {
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

/** Exactly these keys, each passing its check. */
function shaped(v: unknown, checks: Record<string, (x: unknown) => boolean>): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  return keys.length === Object.keys(checks).length && keys.every((k) => checks[k]?.(o[k]) === true);
}

const isStr = (x: unknown): x is string => typeof x === "string";
const isMs = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x) && x >= 0;
const orNull = (is: (x: unknown) => boolean) => (x: unknown) => x === null || is(x);
const isTail = (x: unknown) => x === null || (isStr(x) && x.length <= MAX_TAIL_CHARS);
const short = (x: unknown) => isStr(x) && x.length <= 500;

/** The fields of each restart outcome, with their checks. */
const OUTCOME_FIELDS: Record<RestartResult["kind"], Record<string, (x: unknown) => boolean>> = {
  ready: { pid: isPid, generation: isCount, oldPid: orNull(isPid), ms: isMs, how: short },
  up: { pid: isPid, generation: isCount, oldPid: orNull(isPid), ms: isMs, upMs: isMs },
  running: { pid: isPid, generation: isCount, oldPid: orNull(isPid), ms: isMs },
  crashed: { pid: orNull(isPid), generation: isCount, oldPid: orNull(isPid), ms: isMs, status: short, upMs: isMs, tail: isTail },
  kept: { pid: orNull(isPid), generation: isCount, oldPid: isPid, ms: isMs, reason: short, status: orNull(short), tail: isTail },
};

/** A restart outcome, checked field by field (no field missing, none unknown); null if it is not one. */
function parseOutcome(v: unknown): RestartResult | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const { kind, ...rest } = v as Record<string, unknown>;
  if (typeof kind !== "string" || !Object.hasOwn(OUTCOME_FIELDS, kind)) return null;
  return shaped(rest, OUTCOME_FIELDS[kind as RestartResult["kind"]]) ? ({ kind, ...rest } as RestartResult) : null;
}

function isCrashReport(v: unknown): boolean {
  return shaped(v, { generation: isCount, pid: orNull(isPid), status: short, upMs: isMs, agoMs: isMs, afterChange: (x) => typeof x === "boolean" });
}

/** Echo at most `n` characters of client text in an answer or a log line. */
function clip(s: string, n = 40): string {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}
