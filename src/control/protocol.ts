// The control socket's protocol: one JSON line each way per connection.

/** What a client asks. */
export type ControlRequest = { cmd: "restart"; timeoutMs: number } | { cmd: "status" };

/** Status as reported to `pidone status`. */
export interface StatusReport {
  state: string;
  pid: number | null;
  generation: number;
  uptimeMs: number | null;
  restarts: number;
  lastExit: string | null;
  lastRestartReason: string | null;
  supervisorPid: number;
}

/** What the server answers. */
export type ControlResponse =
  | { ok: true; pid: number; generation: number }
  | { ok: true; status: StatusReport }
  | { ok: false; error: string };

/** Split a stream of bytes into lines; calls `onLine` for each complete one. */
export function lineReader(onLine: (line: string) => void): (chunk: Buffer) => void {
  let buffered = "";
  return (chunk) => {
    buffered += chunk.toString("utf8");
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      onLine(line);
    }
  };
}
