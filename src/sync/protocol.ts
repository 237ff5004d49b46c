// The sync stream between `pidone sync` (sender, on the laptop) and `pidone receive` (in the
// container), over the transport's stdin/stdout. One frame = 4-byte header length, 4-byte payload
// length (big-endian), a JSON header, then the payload bytes (file content). Everything that
// comes off the wire goes through FrameDecoder (sizes) and then decodeSenderMessage /
// decodeReceiverMessage (shapes): nothing else reads raw frames. Portable: no Linux-only imports.

/** Protocol version, checked in the hello exchange. */
export const PROTOCOL_VERSION = 1;
/** Largest JSON header: a tree chunk of TREE_CHUNK entries fits with room to spare. */
export const MAX_HEADER = 1024 * 1024;
/** Largest payload of one frame; files are sent in CHUNK-sized pieces. */
export const MAX_PAYLOAD = 16 * 1024 * 1024;
/** Size of the pieces a file is sent in. */
export const CHUNK = 1024 * 1024;
/** Largest path, in bytes, and largest path component (Linux's PATH_MAX and NAME_MAX). */
export const MAX_PATH = 4096;
export const MAX_NAME = 255;
/** Most operations in one batch, and most paths in one tree or hash frame. */
export const MAX_BATCH_OPS = 200_000;
export const TREE_CHUNK = 2000;
/** Largest file pidone sync sends (a bound on what a hostile stream can make the receiver stage). */
export const MAX_FILE_SIZE = 8 * 1024 * 1024 * 1024;

/** A malformed, oversized or hostile stream. The receiver answers with one line and exits 1. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** One frame off the wire. */
export interface Frame {
  header: Record<string, unknown>;
  payload: Buffer;
}

/** One entry of a tree listing: path, kind (file, dir, symlink), size, executable, mtime (ms), link target. */
export type WireEntry = [path: string, kind: "f" | "d" | "l", size: number, exec: 0 | 1, mtimeMs: number, target?: string];

/** Sender -> receiver. */
export type SenderMessage =
  | { t: "hello"; v: number; skip: string[] }
  | { t: "hash"; paths: string[] }
  | { t: "begin"; id: number }
  | { t: "file"; path: string; size: number; exec: boolean; mtimeMs: number; data: Buffer }
  | { t: "chunk"; data: Buffer }
  | { t: "symlink"; path: string; target: string }
  | { t: "mkdir"; path: string }
  | { t: "delete"; path: string }
  | { t: "chmod"; path: string; exec: boolean }
  | { t: "commit"; id: number; restart: boolean };

/** Most bytes of app output in one `output` frame. */
export const MAX_OUTPUT_CHUNK = 64 * 1024;
/** Most characters of a crash's output tail in a restart outcome (pidone's own answer carries
 *  at most 8 KiB of it). */
export const MAX_TAIL_CHARS = 16 * 1024;

/** How a restart after a batch went: pidone's own account of it, as the receiver got it.
 *  `restartMs`: from the request to the outcome; `generation`: the new generation's number. */
export type RestartOutcome =
  | { kind: "skipped" }
  /** Its readiness check passed (`how`: http, tcp, or --overlap's handover). */
  | { kind: "ready"; oldPid: number | null; newPid: number; generation: number; restartMs: number; how: string }
  /** No readiness check: it has stayed up `upMs`. */
  | { kind: "up"; oldPid: number | null; newPid: number; generation: number; restartMs: number; upMs: number }
  /** It exited (`status`) after `upMs`; pidone waits for the next change. `tail`: what it printed last. */
  | { kind: "crashed"; oldPid: number | null; newPid: number | null; generation: number; restartMs: number; status: string; upMs: number; tail: string | null }
  /** --overlap: the new code failed (`reason`, its `status` if it exited) and `oldPid` serves on. */
  | { kind: "kept"; oldPid: number; newPid: number | null; generation: number; restartMs: number; reason: string; status: string | null; tail: string | null }
  | { kind: "failed"; error: string };

/** Receiver -> sender. */
export type ReceiverMessage =
  | { t: "hello"; v: number; root: string }
  | { t: "tree"; entries: WireEntry[] }
  | { t: "tree-end" }
  | { t: "hashes"; hashes: [string, string | null][] }
  | { t: "applied"; id: number; files: number; bytes: number; ms: number }
  | { t: "result"; id: number; restart: RestartOutcome }
  /** Sent any time after a result: the generation that batch started has died since. */
  | { t: "crashed"; id: number; pid: number; status: string }
  /** Sent any time after a result: what the generation that batch started printed (its stdout
   *  and stderr as pidone keeps them, interleaved as they arrived), in order. */
  | { t: "output"; id: number; data: Buffer }
  /** Sent any time after a result: `bytes` of that output the transport was too slow for. */
  | { t: "skipped"; id: number; bytes: number }
  | { t: "error"; message: string };

/** The receiver's messages that come whenever they happen, between the answers the sender waits for. */
export type ReceiverNotice = Extract<ReceiverMessage, { t: "crashed" | "output" | "skipped" }>;

/** Is `m` a notice (not an answer the sender waits for)? */
export const isNotice = (m: ReceiverMessage): m is ReceiverNotice => m.t === "crashed" || m.t === "output" || m.t === "skipped";

/** Encode one frame. */
export function encodeFrame(header: object, payload: Buffer = EMPTY): Buffer {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32BE(json.length, 0);
  head.writeUInt32BE(payload.length, 4);
  return Buffer.concat([head, json, payload]);
}

const EMPTY = Buffer.alloc(0);

/** Splits a byte stream into frames, refusing oversized headers or payloads before buffering them. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Add bytes; returns the frames now complete. Throws ProtocolError. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < 8) break;
      const head = this.peek(8);
      const hlen = head.readUInt32BE(0);
      const plen = head.readUInt32BE(4);
      if (hlen === 0 || hlen > MAX_HEADER) throw new ProtocolError(`frame header of ${hlen} bytes (limit ${MAX_HEADER})`);
      if (plen > MAX_PAYLOAD) throw new ProtocolError(`frame payload of ${plen} bytes (limit ${MAX_PAYLOAD})`);
      if (this.buffered < 8 + hlen + plen) break;
      const all = this.take(8 + hlen + plen);
      let header: unknown;
      try {
        header = JSON.parse(all.subarray(8, 8 + hlen).toString("utf8"));
      } catch {
        throw new ProtocolError("frame header is not JSON");
      }
      if (typeof header !== "object" || header === null || Array.isArray(header) || typeof (header as { t?: unknown }).t !== "string") {
        throw new ProtocolError("frame header is not an object with a string 't'");
      }
      frames.push({ header: header as Record<string, unknown>, payload: all.subarray(8 + hlen) });
    }
    return frames;
  }

  /** Bytes of an unfinished frame (non-zero at end of stream = truncated). */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0] && this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    return all.subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] as Buffer : Buffer.concat(this.chunks);
    const out = Buffer.from(all.subarray(0, n)); // copy: the rest may be kept much longer
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }
}

/** A path is relative, '/'-separated, without empty, '.' or '..' components, NUL or backslash-free
 *  only where it matters (NUL), and within Linux's length limits. Returns it or throws. */
export function checkPath(value: unknown, what = "path"): string {
  if (typeof value !== "string" || value.length === 0) throw new ProtocolError(`${what} is not a non-empty string`);
  if (Buffer.byteLength(value) > MAX_PATH) throw new ProtocolError(`${what} longer than ${MAX_PATH} bytes`);
  if (value.includes("\0")) throw new ProtocolError(`${what} contains NUL`);
  if (value.startsWith("/")) throw new ProtocolError(`absolute ${what} '${clip(value)}' refused`);
  for (const part of value.split("/")) {
    if (part === "" || part === "." || part === "..") throw new ProtocolError(`${what} '${clip(value)}' has an empty, '.' or '..' component`);
    if (Buffer.byteLength(part) > MAX_NAME) throw new ProtocolError(`${what} component longer than ${MAX_NAME} bytes`);
  }
  return value;
}

/** A symlink target is relative and, resolved from the link's directory, stays inside the tree. */
export function checkLinkTarget(linkPath: string, target: unknown): string {
  if (typeof target !== "string" || target.length === 0) throw new ProtocolError(`symlink '${clip(linkPath)}' has no target`);
  if (Buffer.byteLength(target) > MAX_PATH || target.includes("\0")) throw new ProtocolError(`symlink '${clip(linkPath)}' has an invalid target`);
  if (target.startsWith("/")) throw new ProtocolError(`symlink '${clip(linkPath)}' -> '${clip(target)}' is absolute`);
  if (escapes(linkPath, target)) throw new ProtocolError(`symlink '${clip(linkPath)}' -> '${clip(target)}' leaves the tree`);
  return target;
}

/** Does `target`, read from the directory of `linkPath`, climb above the root? */
export function escapes(linkPath: string, target: string): boolean {
  let depth = linkPath.split("/").length - 1;
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      depth--;
      if (depth < 0) return true;
    } else depth++;
  }
  return false;
}

const clip = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}...` : s);

function int(h: Record<string, unknown>, key: string, max = Number.MAX_SAFE_INTEGER): number {
  const v = h[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) throw new ProtocolError(`'${String(h.t)}' frame: '${key}' is not an integer in 0..${max}`);
  return v;
}

function num(h: Record<string, unknown>, key: string): number {
  const v = h[key];
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new ProtocolError(`'${String(h.t)}' frame: '${key}' is not a number`);
  return v;
}

function bool(h: Record<string, unknown>, key: string): boolean {
  const v = h[key];
  if (typeof v !== "boolean") throw new ProtocolError(`'${String(h.t)}' frame: '${key}' is not a boolean`);
  return v;
}

function str(h: Record<string, unknown>, key: string, max = MAX_PATH): string {
  const v = h[key];
  if (typeof v !== "string" || v.length > max) throw new ProtocolError(`'${String(h.t)}' frame: '${key}' is not a string of at most ${max} characters`);
  return v;
}

function strings(h: Record<string, unknown>, key: string, maxItems: number, each: (v: unknown) => string): string[] {
  const v = h[key];
  if (!Array.isArray(v) || v.length > maxItems) throw new ProtocolError(`'${String(h.t)}' frame: '${key}' is not a list of at most ${maxItems}`);
  return v.map(each);
}

function noPayload(f: Frame): void {
  if (f.payload.length > 0) throw new ProtocolError(`'${String(f.header.t)}' frame carries an unexpected payload`);
}

/** Validate a frame from the sender (the receiver's side of the trust boundary). */
export function decodeSenderMessage(f: Frame): SenderMessage {
  const h = f.header;
  switch (h.t) {
    case "hello":
      noPayload(f);
      return { t: "hello", v: int(h, "v"), skip: strings(h, "skip", 100, (s) => (typeof s === "string" && s.length > 0 && s.length <= MAX_NAME && !s.includes("/") ? s : bad("hello: bad skip name"))) };
    case "hash":
      noPayload(f);
      return { t: "hash", paths: strings(h, "paths", TREE_CHUNK, (p) => checkPath(p)) };
    case "begin":
      noPayload(f);
      return { t: "begin", id: int(h, "id") };
    case "file": {
      const size = int(h, "size", MAX_FILE_SIZE);
      if (f.payload.length > size) throw new ProtocolError(`file '${clip(String(h.path))}': more data than its size`);
      return { t: "file", path: checkPath(h.path), size, exec: bool(h, "exec"), mtimeMs: num(h, "mtimeMs"), data: f.payload };
    }
    case "chunk":
      if (f.payload.length === 0) throw new ProtocolError("empty chunk");
      return { t: "chunk", data: f.payload };
    case "symlink": {
      noPayload(f);
      const p = checkPath(h.path);
      return { t: "symlink", path: p, target: checkLinkTarget(p, h.target) };
    }
    case "mkdir":
      noPayload(f);
      return { t: "mkdir", path: checkPath(h.path) };
    case "delete":
      noPayload(f);
      return { t: "delete", path: checkPath(h.path) };
    case "chmod":
      noPayload(f);
      return { t: "chmod", path: checkPath(h.path), exec: bool(h, "exec") };
    case "commit":
      noPayload(f);
      return { t: "commit", id: int(h, "id"), restart: bool(h, "restart") };
    default:
      throw new ProtocolError(`unknown frame type '${clip(String(h.t))}'`);
  }
}

const bad = (msg: string): never => {
  throw new ProtocolError(msg);
};

function entry(v: unknown): WireEntry {
  if (!Array.isArray(v) || v.length < 5 || v.length > 6) throw new ProtocolError("tree entry is not a 5- or 6-tuple");
  const [p, kind, size, exec, mtime, target] = v as unknown[];
  checkPath(p);
  if (kind !== "f" && kind !== "d" && kind !== "l") throw new ProtocolError("tree entry kind is not f, d or l");
  if (typeof size !== "number" || typeof mtime !== "number" || (exec !== 0 && exec !== 1)) throw new ProtocolError("tree entry has a bad size, exec bit or mtime");
  if (target !== undefined && typeof target !== "string") throw new ProtocolError("tree entry has a bad link target");
  return v as WireEntry;
}

/** The fields of each restart outcome kind, each with its check: no field missing, none unknown. */
const OUTCOME_FIELDS: Record<Exclude<RestartOutcome["kind"], "skipped">, string[]> = {
  ready: ["oldPid", "newPid", "generation", "restartMs", "how"],
  up: ["oldPid", "newPid", "generation", "restartMs", "upMs"],
  crashed: ["oldPid", "newPid", "generation", "restartMs", "status", "upMs", "tail"],
  kept: ["oldPid", "newPid", "generation", "restartMs", "reason", "status", "tail"],
  failed: ["error"],
};

function outcome(v: unknown): RestartOutcome {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ProtocolError("result: restart is not an object");
  const o = v as Record<string, unknown>;
  const kind = o.kind;
  if (kind === "skipped" && Object.keys(o).length === 1) return { kind: "skipped" };
  if (typeof kind !== "string" || !Object.hasOwn(OUTCOME_FIELDS, kind)) throw new ProtocolError("result: unknown restart outcome");
  const fields = OUTCOME_FIELDS[kind as keyof typeof OUTCOME_FIELDS];
  for (const k of Object.keys(o)) if (k !== "kind" && !fields.includes(k)) throw new ProtocolError(`result: '${clip(k)}' is not a field of a ${kind} outcome`);
  const h = { ...o, t: "result" };
  const pid = (k: string): number => {
    const n = int(h, k, 0x400000);
    return n > 0 ? n : bad(`result: ${k} is not a pid`);
  };
  const maybe = <T>(k: string, each: (k: string) => T): T | null => (o[k] === null ? null : each(k));
  const tail = () => maybe("tail", (k) => str(h, k, MAX_TAIL_CHARS));
  switch (kind) {
    case "ready":
      return { kind, oldPid: maybe("oldPid", pid), newPid: pid("newPid"), generation: int(h, "generation"), restartMs: num(h, "restartMs"), how: str(h, "how", 100) };
    case "up":
      return { kind, oldPid: maybe("oldPid", pid), newPid: pid("newPid"), generation: int(h, "generation"), restartMs: num(h, "restartMs"), upMs: num(h, "upMs") };
    case "crashed":
      return { kind, oldPid: maybe("oldPid", pid), newPid: maybe("newPid", pid), generation: int(h, "generation"), restartMs: num(h, "restartMs"), status: str(h, "status", 200), upMs: num(h, "upMs"), tail: tail() };
    case "kept":
      return { kind, oldPid: pid("oldPid"), newPid: maybe("newPid", pid), generation: int(h, "generation"), restartMs: num(h, "restartMs"), reason: str(h, "reason", 200), status: maybe("status", (k) => str(h, k, 200)), tail: tail() };
    default:
      return { kind: "failed", error: str(h, "error", 2000) };
  }
}

/** Validate a frame from the receiver (the sender trusts the receiver no more than it must). */
export function decodeReceiverMessage(f: Frame): ReceiverMessage {
  const h = f.header;
  if (h.t === "output") {
    if (f.payload.length === 0 || f.payload.length > MAX_OUTPUT_CHUNK) throw new ProtocolError(`output frame of ${f.payload.length} bytes (1 to ${MAX_OUTPUT_CHUNK})`);
    return { t: "output", id: int(h, "id"), data: f.payload };
  }
  noPayload(f);
  switch (h.t) {
    case "hello":
      return { t: "hello", v: int(h, "v"), root: str(h, "root") };
    case "tree": {
      const v = h.entries;
      if (!Array.isArray(v) || v.length > TREE_CHUNK) throw new ProtocolError("tree: entries is not a list of at most TREE_CHUNK");
      return { t: "tree", entries: v.map(entry) };
    }
    case "tree-end":
      return { t: "tree-end" };
    case "hashes": {
      const v = h.hashes;
      if (!Array.isArray(v) || v.length > TREE_CHUNK) throw new ProtocolError("hashes: not a list");
      for (const e of v) if (!Array.isArray(e) || typeof e[0] !== "string" || (e[1] !== null && typeof e[1] !== "string")) throw new ProtocolError("hashes: bad entry");
      return { t: "hashes", hashes: v as [string, string | null][] };
    }
    case "applied":
      return { t: "applied", id: int(h, "id"), files: int(h, "files"), bytes: int(h, "bytes"), ms: num(h, "ms") };
    case "result":
      return { t: "result", id: int(h, "id"), restart: outcome(h.restart) };
    case "crashed":
      return { t: "crashed", id: int(h, "id"), pid: int(h, "pid"), status: str(h, "status", 200) };
    case "skipped":
      return { t: "skipped", id: int(h, "id"), bytes: int(h, "bytes") };
    case "error":
      return { t: "error", message: str(h, "message", 4000) };
    default:
      throw new ProtocolError(`unknown frame type '${clip(String(h.t))}'`);
  }
}

/** Frames of a readable stream, decoded and bounded; throws ProtocolError on a truncated end. */
export async function* readFrames(stream: AsyncIterable<Buffer | string>): AsyncGenerator<Frame> {
  const dec = new FrameDecoder();
  for await (const chunk of stream) {
    for (const f of dec.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk)) yield f;
  }
  if (dec.pending > 0) throw new ProtocolError(`stream ended inside a frame (${dec.pending} bytes of it)`);
}
