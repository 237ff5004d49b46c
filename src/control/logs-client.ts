// `pidone logs`: asks the running pidone for the app's kept output and prints its bytes to stdout
// as they come (raw, both streams as the app wrote them); a new generation's marker goes to
// stderr, so stdout stays the app's bytes.
import net from "node:net";
import type { Invocation } from "../cli/program.js";
import { ConfigError } from "../errors.js";
import { controlSocketPath } from "../cli/control-socket-path.js";
import { releaseEarlySignals } from "../boot/release-early-signals.js";
import { CLIENT_EXIT } from "../exit-code.js";
import { whileBusy } from "./client.js";
import { FrameSplitter, LOGS_FRAME, MAX_LINE_BYTES, MAX_TAIL_LINES, parseLogsHead, type LogsRequest } from "./protocol.js";

/** How long the head of the answer may take. */
const HEAD_TIMEOUT_MS = 5000;

/** The request `pidone logs` sends, from its options. Throws ConfigError for a bad one. */
export function logsRequest(inv: Extract<Invocation, { kind: "logs" }>): LogsRequest {
  const req: LogsRequest = { cmd: "logs", follow: inv.follow };
  if (inv.tail !== undefined) {
    const n = Number(inv.tail);
    if (!/^\d+$/.test(inv.tail.trim()) || n > MAX_TAIL_LINES) throw new ConfigError(`--tail: '${inv.tail}' is not a number of lines (0 to ${MAX_TAIL_LINES})`);
    req.tail = n;
  }
  if (inv.generation !== undefined && inv.previous) throw new ConfigError("--generation and --previous: choose one");
  if (inv.previous) req.generation = "previous";
  if (inv.generation !== undefined) {
    const n = Number(inv.generation);
    if (!/^\d+$/.test(inv.generation.trim()) || n < 1 || !Number.isSafeInteger(n)) throw new ConfigError(`--generation: '${inv.generation}' is not a generation number (1, 2, ...)`);
    req.generation = n;
  }
  return req;
}

/** How long `pidone logs` waits for its turn while pidone is busy. */
const BUSY_TIMEOUT_MS = 10_000;

/** Run `pidone logs`; returns the exit code. */
export async function runLogs(inv: Extract<Invocation, { kind: "logs" }>): Promise<number> {
  releaseEarlySignals();
  const socket = controlSocketPath(inv.socket);
  const req = logsRequest(inv);
  // A write to stdout after its reader left (`pidone logs --follow | head -1`) fails with EPIPE,
  // as an 'error' event: without a listener that is an uncaught exception and a stack trace.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => stdoutFailed?.(err));
  const end = await whileBusy(BUSY_TIMEOUT_MS, () => logsOnce(socket, req));
  if (end.error !== undefined) process.stderr.write(`pidone logs: ${end.busy ? `pidone on ${socket} stayed busy for ${BUSY_TIMEOUT_MS} ms (${end.error})` : end.error}\n`);
  return end.busy ? CLIENT_EXIT.timeout : end.code;
}

/** Ends the connection under way when stdout fails (null between connections). */
let stdoutFailed: ((err: NodeJS.ErrnoException) => void) | null = null;

/** How one connection ended: `busy` when pidone did not take the request (nothing was printed). */
interface LogsEnd {
  code: number;
  error?: string;
  busy?: true;
}

/** One connection: the request, the answer's head, then the stream to stdout until pidone ends it. */
function logsOnce(socket: string, req: LogsRequest): Promise<LogsEnd> {
  return new Promise<LogsEnd>((resolve) => {
    const conn = net.connect(socket);
    let head: Buffer | null = Buffer.alloc(0);
    const frames = new FrameSplitter();
    let done = false;
    const finish = (end: LogsEnd) => {
      if (done) return;
      done = true;
      stdoutFailed = null;
      clearTimeout(timer);
      conn.destroy();
      resolve(end);
    };
    const fail = (code: number, error: string) => finish({ code, error });
    // The reader went away: it has what it wanted, as with cat. Another failure is reported.
    stdoutFailed = (err) => (err.code === "EPIPE" ? finish({ code: CLIENT_EXIT.ok }) : fail(CLIENT_EXIT.failed, `cannot write to stdout: ${err.code ?? err.message}`));
    const timer = setTimeout(() => fail(CLIENT_EXIT.timeout, `no answer from pidone on ${socket} within ${HEAD_TIMEOUT_MS} ms`), HEAD_TIMEOUT_MS);
    const onFrames = (chunk: Buffer) => {
      const got = frames.push(chunk);
      if ("error" in got) return fail(CLIENT_EXIT.failed, got.error);
      for (const f of got) {
        if (f.type === LOGS_FRAME.data) {
          if (!process.stdout.write(f.payload)) {
            conn.pause();
            process.stdout.once("drain", () => conn.resume());
          }
        } else {
          const info = JSON.parse(f.payload.toString("utf8")) as { generation?: number; pid?: number | null; bytes?: number };
          process.stderr.write(f.type === LOGS_FRAME.generation
            ? `--- generation ${info.generation} (pid ${info.pid ?? "-"}) ---\n`
            : `[... ${info.bytes} bytes skipped]\n`);
        }
      }
    };
    conn.on("connect", () => conn.write(`${JSON.stringify(req)}\n`));
    conn.on("data", (chunk: Buffer) => {
      if (head === null) return onFrames(chunk);
      const nl = chunk.indexOf(0x0a);
      if (nl < 0) {
        head = Buffer.concat([head, chunk]);
        if (head.length > MAX_LINE_BYTES) fail(CLIENT_EXIT.failed, `malformed answer from pidone: longer than ${MAX_LINE_BYTES} bytes`);
        return;
      }
      const parsed = parseLogsHead(Buffer.concat([head, chunk.subarray(0, nl)]).toString("utf8"));
      head = null;
      clearTimeout(timer);
      if (!parsed.ok) return fail(CLIENT_EXIT.failed, `${parsed.error} from pidone`);
      if (!parsed.value.ok) return finish({ code: CLIENT_EXIT.failed, error: parsed.value.error, ...(parsed.value.error.startsWith("busy:") ? { busy: true as const } : {}) });
      onFrames(chunk.subarray(nl + 1));
    });
    conn.on("error", (err: NodeJS.ErrnoException) => {
      // A full listen backlog (EAGAIN), or a connection closed unserved past pidone's limit.
      if (head !== null && (err.code === "EAGAIN" || err.code === "ECONNRESET" || err.code === "EPIPE")) {
        return finish({ code: CLIENT_EXIT.unreachable, error: `cannot reach pidone on ${socket}: ${err.code}`, busy: true });
      }
      fail(CLIENT_EXIT.unreachable, err.code === "ENOENT" || err.code === "ECONNREFUSED"
        ? `no pidone is listening on ${socket} (is pidone running here, with the same --control-socket?)`
        : `cannot reach pidone on ${socket}: ${err.code ?? err.message}`);
    });
    conn.on("end", () => {
      if (head !== null) return finish({ code: CLIENT_EXIT.failed, error: "pidone closed the connection without answering", busy: true });
      // Everything written to stdout is out before the exit.
      if (process.stdout.writableLength === 0) return finish({ code: CLIENT_EXIT.ok });
      process.stdout.once("drain", () => finish({ code: CLIENT_EXIT.ok }));
    });
  });
}
