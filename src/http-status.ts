// One HTTP status check: a GET whose status line says ready (2xx or 3xx) or not. --ready-http
// asks it of the URL (readiness.ts, for /readyz and `pidone restart`); --overlap asks it through
// a held socket, from a source port the steering program routes to the next generation
// (child/handoff/ready-probe.ts). Imports nothing of src/, so child/ may lean on it.

/** What a check found: a status code, no answer in time, or a connection error (errno name). */
export type HttpAnswer =
  | { kind: "status"; code: number }
  | { kind: "timeout"; ms: number }
  | { kind: "error"; code: string };

/** Where the GET connects to instead of the URL's own host, and from which local address and
 *  port; the Host header still names the URL's host. */
export interface HttpVia {
  host: string;
  port: number;
  localPort?: number;
  localAddress?: string;
}

/** A status that says ready: 2xx or 3xx (a redirect is not followed). */
export function statusReady(code: number): boolean {
  return code >= 200 && code < 400;
}

/** GET `url` (no agent: one connection, closed after the answer) and report the answer once;
 *  without `timeoutMs` it waits as long as the connection does. Returns a canceller, after which
 *  nothing is reported. node:http loads on the first check, not with the supervisor: it costs
 *  about 2 ms, before the spawn. With require: the bundle may not hold a dynamic import()
 *  (src/boot/load-bundle.js). */
export function checkHttpStatus(
  url: string, opts: { timeoutMs?: number; via?: HttpVia }, done: (answer: HttpAnswer) => void,
): () => void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const http = require("node:http") as typeof import("node:http");
  const { timeoutMs, via } = opts;
  let settled = false;
  const finish = (answer: HttpAnswer | null) => {
    if (settled) return;
    settled = true;
    req.destroy();
    if (answer) done(answer);
  };
  const headers: Record<string, string> = { "User-Agent": "pidone-ready" };
  if (via) headers.Host = new URL(url).host;
  const req = http.get(url, {
    agent: false, headers,
    ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
    ...(via ? { hostname: via.host, port: via.port, localPort: via.localPort, localAddress: via.localAddress } : {}),
  }, (res) => {
    res.resume();
    finish({ kind: "status", code: res.statusCode ?? 0 });
  });
  req.once("timeout", () => finish({ kind: "timeout", ms: timeoutMs ?? 0 }));
  // on, not once: destroying a request before its answer emits one more error.
  req.on("error", (err: NodeJS.ErrnoException) => finish({ kind: "error", code: err.code ?? err.message }));
  return () => finish(null);
}
