// `pidone restart` and `pidone status`: a short-lived client of the running pidone's control socket.
import net from "node:net";
import { CLIENT_EXIT } from "../exit-code.js";
import { LineSplitter, type LineEvent } from "../line-splitter.js";
import { MAX_LINE_BYTES, parseResponse, type ControlRequest, type ControlResponse, type StatusReport } from "./protocol.js";

/** Send one request and return the response, or a client-side failure. Reads at most one line
 *  of MAX_LINE_BYTES, validated by parseResponse; whatever follows it is ignored. */
export function request(socketPath: string, req: ControlRequest, timeoutMs: number): Promise<{ code: number; response?: ControlResponse; error?: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const conn = net.connect(socketPath);
    const done = (r: { code: number; response?: ControlResponse; error?: string }) => {
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
      done({ code: parsed.value.ok ? CLIENT_EXIT.ok : CLIENT_EXIT.failed, response: parsed.value });
    };
    conn.on("connect", () => conn.write(`${JSON.stringify(req)}\n`));
    conn.on("data", (chunk: Buffer) => onEvents(lines.push(chunk)));
    conn.on("error", (err: NodeJS.ErrnoException) => {
      const why = err.code === "ENOENT" || err.code === "ECONNREFUSED"
        ? `no pidone is listening on ${socketPath} (is pidone running here, with the same --control-socket?)`
        : err.code === "EACCES"
          ? `permission denied on ${socketPath} (run as the user pidone runs as)`
          : `cannot reach pidone on ${socketPath}: ${err.code ?? err.message}`;
      done({ code: CLIENT_EXIT.unreachable, error: why });
    });
    conn.on("end", () => {
      onEvents(lines.end());
      done({ code: CLIENT_EXIT.failed, error: "pidone closed the connection without answering" });
    });
  });
}

/** Human form of a status report. */
export function formatStatus(s: StatusReport): string {
  const rows: [string, string][] = [
    ["state", s.state],
    ["pid", s.pid === null ? "-" : String(s.pid)],
    ["uptime", s.uptimeMs === null ? "-" : `${(s.uptimeMs / 1000).toFixed(1)}s`],
    ["generation", String(s.generation)],
    ["restarts", String(s.restarts)],
    ["last exit", s.lastExit ?? "-"],
    ["last restart", s.lastRestartReason ?? "-"],
  ];
  return rows.map(([k, v]) => `${`${k}:`.padEnd(14)}${v}`).join("\n");
}
