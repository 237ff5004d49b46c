// The health server (--health), a read-only face of the control plane: HTTP for Kubernetes
// probes, answered by pidone itself, so a probe never costs the app a request. It dispatches
// nothing, and answers only
//   GET /livez   200 while pidone supervises (503 once it has given up or is exiting),
//   GET /readyz  200 while an app generation serves (--overlap's restarts included) and the
//                --ready-tcp/--ready-http check passes; 503 during a restart without --overlap,
//                a backoff, the broken state, or when the check fails,
//   GET /status  the status `pidone status --json` prints.
// The readiness check runs on request, with a short timeout: no polling timer, so an idle pidone
// never wakes up on its own.
import http from "node:http";
import net from "node:net";
import type { Logger } from "pino";
import type { StatusSnapshot } from "../supervisor/events.js";
import type { ListenAddress } from "../cli/listen-address.js";
import { BindError } from "../errors.js";
import { report } from "./status-report.js";
import { readinessProblem } from "../readiness.js";

/** The states in which a generation serves: running, and --overlap's restart, during which the
 *  current generation serves on until the next one has taken over (a pod must not leave its
 *  Service for a restart --overlap makes invisible). */
const SERVING = new Set(["running", "overlapping", "handover"]);

/** What the health server reads: the supervisor's status, and the optional readiness checks. */
export interface HealthDeps {
  status(): StatusSnapshot;
  now: () => number;
  log: Logger;
  readyTcp?: Extract<ListenAddress, { kind: "tcp" }>;
  readyHttp?: string;
}


/** Below the kubelet's default probe timeout (1 s), so a slow app gives a 503, not a probe timeout. */
const CHECK_TIMEOUT_MS = 800;

/** Sockets served at once; Node closes the ones past it as soon as it accepts them. Probes use
 *  one short connection each, so 64 is room for many kubelets and a curl. */
const MAX_CONNECTIONS = 64;
/** Each request must be complete, and answered, within this long of the connection's start or
 *  of the previous answer: a total deadline, so a client that trickles its headers (or a body, or
 *  nothing on a kept-alive socket) is cut too, not only one that falls silent. */
const REQUEST_DEADLINE_MS = 5000;

/** Listen on `address`; resolves with a closer, rejects with BindError. Logs `health-listening`. */
export async function startHealthServer(address: ListenAddress, deps: HealthDeps): Promise<() => void> {
  const server = http.createServer({
    // Node's http server enforces requestTimeout/headersTimeout with a 30 s interval timer that
    // runs for as long as it listens, which would wake an idle pidone; so they are off, and the
    // per-socket deadline below (a timer that exists only while a client is connected) replaces
    // both, and the keep-alive timeout too.
    connectionsCheckingInterval: 2_147_483_647, requestTimeout: 0, headersTimeout: 0,
    maxHeaderSize: 8192,
  }, (req, res) => void handle(req, res, deps));
  server.maxConnections = MAX_CONNECTIONS;
  server.keepAliveTimeout = REQUEST_DEADLINE_MS;
  const deadlines = new Map<net.Socket, NodeJS.Timeout>();
  const arm = (socket: net.Socket) => {
    clearTimeout(deadlines.get(socket));
    deadlines.set(socket, setTimeout(() => socket.destroy(), REQUEST_DEADLINE_MS));
  };
  server.on("connection", (socket: net.Socket) => {
    arm(socket);
    socket.once("close", () => {
      clearTimeout(deadlines.get(socket));
      deadlines.delete(socket);
    });
  });
  // The next request on a kept-alive socket gets a fresh deadline once this one is answered.
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.once("finish", () => {
      if (deadlines.has(req.socket)) arm(req.socket);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(new BindError(err.code ?? "EINVAL", "listen", err.message)));
    if (address.kind === "unix") server.listen(address.path, resolve);
    else server.listen({ host: address.host, port: address.port, ipv6Only: false }, resolve);
  });
  server.on("error", (err) => deps.log.warn({ event: "health-error", error: err.message }));
  deps.log.info({ event: "health-listening", address: address.text });
  return () => {
    server.close();
    server.closeAllConnections();
    for (const t of deadlines.values()) clearTimeout(t);
  };
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, deps: HealthDeps): Promise<void> {
  const send = (code: number, body: string, type = "text/plain; charset=utf-8") => {
    res.writeHead(code, { "content-type": type, "cache-control": "no-store" }).end(body);
  };
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    return send(405, "method not allowed\n");
  }
  const pathname = (req.url ?? "/").split("?")[0];
  const s = deps.status();
  switch (pathname) {
    case "/livez":
      return s.state === "exited" ? send(503, "exited\n") : send(200, "ok\n");
    case "/readyz": {
      if (!SERVING.has(s.state)) return send(503, `not ready: ${s.state}\n`);
      const failed = await readinessProblem(deps, CHECK_TIMEOUT_MS);
      // The app may have been replaced while the check ran.
      const after = deps.status();
      if (!SERVING.has(after.state) || after.generation !== s.generation) return send(503, `not ready: ${after.state}\n`);
      return failed === null ? send(200, "ok\n") : send(503, `not ready: ${failed}\n`);
    }
    case "/status":
      return send(200, `${JSON.stringify(report(s, deps.now()))}\n`, "application/json");
    default:
      return send(404, "not found (try /livez, /readyz or /status)\n");
  }
}
