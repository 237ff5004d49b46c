// `pidone restart` and `pidone status`: a short-lived client of the running pidone's control socket.
import net from "node:net";
import { lineReader, type ControlRequest, type ControlResponse, type StatusReport } from "./protocol.js";

/** Client exit codes (documented in the README). */
export const CLIENT_EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, timeout: 4 } as const;

/** Send one request and return the response, or a client-side failure. */
export function request(socketPath: string, req: ControlRequest, timeoutMs: number): Promise<{ code: number; response?: ControlResponse; error?: string }> {
  return new Promise((resolve) => {
    const conn = net.connect(socketPath);
    const timer = setTimeout(() => {
      conn.destroy();
      resolve({ code: CLIENT_EXIT.timeout, error: `no answer from pidone on ${socketPath} within ${timeoutMs} ms` });
    }, timeoutMs);
    conn.on("connect", () => conn.write(`${JSON.stringify(req)}\n`));
    conn.on("data", lineReader((line) => {
      clearTimeout(timer);
      conn.destroy();
      try {
        const response = JSON.parse(line) as ControlResponse;
        resolve({ code: response.ok ? CLIENT_EXIT.ok : CLIENT_EXIT.failed, response });
      } catch {
        resolve({ code: CLIENT_EXIT.failed, error: "malformed answer from pidone" });
      }
    }));
    conn.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === "ENOENT" || err.code === "ECONNREFUSED"
        ? `no pidone is listening on ${socketPath} (is pidone running here, with the same --control-socket?)`
        : err.code === "EACCES"
          ? `permission denied on ${socketPath} (run as the user pidone runs as)`
          : `cannot reach pidone on ${socketPath}: ${err.code ?? err.message}`;
      resolve({ code: CLIENT_EXIT.unreachable, error: why });
    });
    conn.on("end", () => {
      clearTimeout(timer);
      resolve({ code: CLIENT_EXIT.failed, error: "pidone closed the connection without answering" });
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
