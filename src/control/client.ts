// `pidone restart` and `pidone status`: a short-lived client of the running pidone's control socket.
import net from "node:net";
import { CLIENT_EXIT } from "../exit-code.js";
import { LineSplitter, type LineEvent } from "../line-splitter.js";
import {
  FrameSplitter, MAX_LINE_BYTES, parseLogsHead, parseResponse, type ControlRequest, type ControlResponse, type LogsRequest, type StatusReport,
} from "./protocol.js";

/** What one request got: the response, or a client-side failure with its exit code. */
export interface Answer {
  code: number;
  response?: ControlResponse;
  error?: string;
}

/** First and longest pause between two tries while pidone is busy. */
const RETRY_FIRST_MS = 20;
const RETRY_MAX_MS = 500;

/** Send one request and return the response, or a client-side failure. While pidone is busy (its
 *  64 connections taken, or its listen backlog full) the request is tried again after a pause
 *  that doubles, within `timeoutMs` in all; a restart's own wait shrinks by the time spent. */
export async function request(socketPath: string, req: ControlRequest, timeoutMs: number): Promise<Answer> {
  // What the caller left between the restart's wait and its own deadline, kept on every try.
  const margin = req.cmd === "restart" ? Math.max(0, timeoutMs - req.timeoutMs) : 0;
  const answer = await whileBusy(timeoutMs, (left) => {
    const tryReq: ControlRequest = req.cmd === "restart" ? { ...req, timeoutMs: Math.max(1, Math.min(req.timeoutMs, left - margin)) } : req;
    return once(socketPath, tryReq, Math.max(1, left));
  });
  if (!answer.busy) return answer;
  return { code: CLIENT_EXIT.timeout, error: `pidone on ${socketPath} stayed busy for ${timeoutMs} ms (${answer.error ?? "busy"})` };
}

/** Try `attempt` (given the ms left) until it says it was not busy, or `timeoutMs` runs out (then
 *  the last busy answer): every control client waits its turn the same way. */
export async function whileBusy<T extends { busy?: true }>(timeoutMs: number, attempt: (leftMs: number) => Promise<T>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (let pause = RETRY_FIRST_MS; ; pause = Math.min(pause * 2, RETRY_MAX_MS)) {
    const answer = await attempt(Math.round(deadline - performance.now()));
    if (!answer.busy || performance.now() + pause >= deadline) return answer;
    await new Promise((r) => setTimeout(r, pause));
  }
}

/** One connection, one request. Reads at most one line of MAX_LINE_BYTES, validated by
 *  parseResponse; whatever follows it is ignored. `busy`: pidone did not take the request (a
 *  busy answer, a full backlog, or a connection closed before any answer): try again. */
function once(socketPath: string, req: ControlRequest, timeoutMs: number): Promise<Answer & { busy?: true }> {
  return new Promise((resolve) => {
    let settled = false;
    let heard = false;
    const conn = net.connect(socketPath);
    const done = (r: Answer & { busy?: true }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ code: CLIENT_EXIT.timeout, error: `no answer from pidone on ${socketPath} within ${timeoutMs} ms` }), timeoutMs);
    const lines = new LineSplitter(MAX_LINE_BYTES);
    const onEvents = (events: LineEvent[]) => {
      const ev = events[0];
      if (ev === undefined) return;
      if (ev.kind === "too-long") return done({ code: CLIENT_EXIT.failed, error: `malformed answer from pidone: longer than ${MAX_LINE_BYTES} bytes` });
      const parsed = parseResponse(ev.line);
      if (!parsed.ok) return done({ code: CLIENT_EXIT.failed, error: `${parsed.error} from pidone` });
      const r = parsed.value;
      if (!r.ok && r.error.startsWith("busy:")) return done({ code: CLIENT_EXIT.failed, error: r.error, busy: true });
      done({ code: r.ok ? CLIENT_EXIT.ok : failureCode(r), response: r });
    };
    conn.on("connect", () => conn.write(`${JSON.stringify(req)}\n`));
    conn.on("data", (chunk: Buffer) => {
      heard = true;
      onEvents(lines.push(chunk));
    });
    conn.on("error", (err: NodeJS.ErrnoException) => {
      // A full listen backlog (EAGAIN), or a connection Node closed unserved past its limit.
      if (!heard && (err.code === "EAGAIN" || err.code === "ECONNRESET" || err.code === "EPIPE")) {
        return done({ code: CLIENT_EXIT.unreachable, error: `cannot reach pidone on ${socketPath}: ${err.code}`, busy: true });
      }
      const why = err.code === "ENOENT" || err.code === "ECONNREFUSED"
        ? `no pidone is listening on ${socketPath} (is pidone running here, with the same --control-socket?)`
        : err.code === "EACCES"
          ? `permission denied on ${socketPath} (run as the user pidone runs as)`
          : `cannot reach pidone on ${socketPath}: ${err.code ?? err.message}`;
      done({ code: CLIENT_EXIT.unreachable, error: why });
    });
    conn.on("end", () => {
      onEvents(lines.end());
      done({ code: CLIENT_EXIT.failed, error: "pidone closed the connection without answering", ...(heard ? {} : { busy: true as const }) });
    });
  });
}

/** A logs stream pidone took: its frames go to `onFrame` until `stop()` or pidone ends it. */
export interface LogsStream {
  /** Settles (never rejects) once the stream is over: null when pidone ended it, else why. */
  ended: Promise<string | null>;
  stop(): void;
}

/** Ask for a logs stream (`pidone logs` over the socket) and hand its frames to `onFrame`; while
 *  pidone is busy the request waits its turn within `timeoutMs`. Resolves once the head is read:
 *  the stream, or why there is none. */
export async function openLogs(socketPath: string, req: LogsRequest, timeoutMs: number, onFrame: (type: number, payload: Buffer) => void): Promise<LogsStream | { error: string }> {
  const r = await whileBusy(timeoutMs, (left) => logsHead(socketPath, req, Math.max(1, left)));
  if ("conn" in r) return frames(r.conn, r.rest, onFrame);
  return { error: r.error };
}

/** One connection: the request and the answer's head; the socket and what came after the head. */
function logsHead(socketPath: string, req: LogsRequest, timeoutMs: number): Promise<{ conn: net.Socket; rest: Buffer; busy?: undefined } | { error: string; busy?: true }> {
  return new Promise((resolve) => {
    const conn = net.connect(socketPath);
    let head = Buffer.alloc(0);
    let settled = false;
    const done = (r: { conn: net.Socket; rest: Buffer } | { error: string; busy?: true }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.removeAllListeners("data").removeAllListeners("end").removeAllListeners("error");
      if ("error" in r) conn.destroy();
      else conn.pause();
      resolve(r);
    };
    const timer = setTimeout(() => done({ error: `no answer from pidone on ${socketPath} within ${timeoutMs} ms` }), timeoutMs);
    conn.on("connect", () => conn.write(`${JSON.stringify(req)}\n`));
    conn.on("data", (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(0x0a);
      if (nl < 0) {
        if (head.length > MAX_LINE_BYTES) done({ error: `malformed answer from pidone: longer than ${MAX_LINE_BYTES} bytes` });
        return;
      }
      const parsed = parseLogsHead(head.subarray(0, nl).toString("utf8"));
      if (!parsed.ok) return done({ error: `${parsed.error} from pidone` });
      if (!parsed.value.ok) return done({ error: parsed.value.error, ...(parsed.value.error.startsWith("busy:") ? { busy: true as const } : {}) });
      done({ conn, rest: head.subarray(nl + 1) });
    });
    conn.on("error", (err: NodeJS.ErrnoException) => {
      const busy = err.code === "EAGAIN" || err.code === "ECONNRESET" || err.code === "EPIPE";
      done({ error: `cannot reach pidone on ${socketPath}: ${err.code ?? err.message}`, ...(busy ? { busy: true as const } : {}) });
    });
    conn.on("end", () => done({ error: "pidone closed the connection without answering", busy: true }));
  });
}

/** The frames of a logs stream whose head is read, to `onFrame`. */
function frames(conn: net.Socket, rest: Buffer, onFrame: (type: number, payload: Buffer) => void): LogsStream {
  const splitter = new FrameSplitter();
  let finish: (why: string | null) => void = () => {};
  const ended = new Promise<string | null>((r) => (finish = r));
  const push = (chunk: Buffer) => {
    const got = splitter.push(chunk);
    if ("error" in got) {
      finish(got.error);
      conn.destroy();
      return;
    }
    for (const f of got) onFrame(f.type, f.payload);
  };
  conn.on("data", push);
  conn.on("end", () => finish(null));
  conn.on("close", () => finish(null));
  conn.on("error", (err: NodeJS.ErrnoException) => finish(`logs stream: ${err.code ?? err.message}`));
  if (rest.length > 0) push(rest);
  conn.resume();
  return { ended, stop: () => conn.destroy() };
}

/** The exit code of a failure answer: `crashed` when the new generation exited. */
function failureCode(r: Extract<ControlResponse, { ok: false }>): number {
  const o = r.outcome;
  return o && (o.kind === "crashed" || (o.kind === "kept" && o.status !== null)) ? CLIENT_EXIT.crashed : CLIENT_EXIT.failed;
}

/** Human form of a status report. */
export function formatStatus(s: StatusReport): string {
  const c = s.lastCrash;
  const rows: [string, string][] = [
    ["state", s.state === "broken" ? "broken (the app exited right after a change; waiting for the next change or pidone restart)" : s.state],
    ["pid", s.pid === null ? "-" : String(s.pid)],
    ["uptime", s.uptimeMs === null ? "-" : `${(s.uptimeMs / 1000).toFixed(1)}s`],
    ["generation", String(s.generation)],
    ["restarts", String(s.restarts)],
    ["last exit", s.lastExit ?? "-"],
    ["last restart", s.lastRestartReason ?? "-"],
    ...(c ? [["last crash", `generation ${c.generation}${c.pid === null ? "" : ` (pid ${c.pid})`}: ${c.status} after ${c.upMs} ms, ${(c.agoMs / 1000).toFixed(1)}s ago`] as [string, string]] : []),
  ];
  return rows.map(([k, v]) => `${`${k}:`.padEnd(14)}${v}`).join("\n");
}
