// The health server (--health): HTTP for Kubernetes probes, answered by pidone itself, so a probe
// never costs the app a request. Read-only: it dispatches nothing, and answers only
//   GET /livez   200 while pidone supervises (503 once it has given up or is exiting),
//   GET /readyz  200 while an app generation runs and the --ready-tcp/--ready-http check passes,
//                503 during a restart, a backoff, or when the check fails,
//   GET /status  the status `pidone status --json` prints.
// The readiness check runs on request, with a short timeout: no polling timer, so an idle pidone
// never wakes up on its own.
import http from "node:http";
import net from "node:net";
import type { Logger } from "pino";
import type { StatusSnapshot } from "../supervisor/events.js";
import type { ListenAddress } from "../cli/listen-address.js";
import { BindError } from "../errors.js";
import { report } from "./control.js";

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

/** Listen on `address`; resolves with a closer, rejects with BindError. Logs `health-listening`. */
export async function startHealthServer(address: ListenAddress, deps: HealthDeps): Promise<() => void> {
  const server = http.createServer({
    // Node's http server otherwise runs a 30 s interval timer for requestTimeout/headersTimeout
    // for as long as it listens; per-socket timeouts (below) only run while a client is connected.
    connectionsCheckingInterval: 2_147_483_647, requestTimeout: 0, headersTimeout: 0,
  }, (req, res) => void handle(req, res, deps));
  server.setTimeout(5000, (socket) => socket.destroy());
  server.keepAliveTimeout = 5000;
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
      if (s.state !== "running") return send(503, `not ready: ${s.state}\n`);
      const failed = await readinessProblem(deps);
      // The app may have been replaced while the check ran.
      const after = deps.status();
      if (after.state !== "running" || after.generation !== s.generation) return send(503, `not ready: ${after.state}\n`);
      return failed === null ? send(200, "ok\n") : send(503, `not ready: ${failed}\n`);
    }
    case "/status":
      return send(200, `${JSON.stringify(report(s, deps.now()))}\n`, "application/json");
    default:
      return send(404, "not found (try /livez, /readyz or /status)\n");
  }
}

/** Null when every configured check passes, else what failed. */
async function readinessProblem(deps: HealthDeps): Promise<string | null> {
  const [tcp, web] = await Promise.all([
    deps.readyTcp ? tcpCheck(deps.readyTcp) : null,
    deps.readyHttp ? httpCheck(deps.readyHttp) : null,
  ]);
  return tcp ?? web;
}

function tcpCheck(a: Extract<ListenAddress, { kind: "tcp" }>): Promise<string | null> {
  return new Promise((resolve) => {
    const c = net.connect({ host: a.host, port: a.port });
    const done = (problem: string | null) => {
      c.destroy();
      resolve(problem);
    };
    c.setTimeout(CHECK_TIMEOUT_MS, () => done(`tcp ${a.text}: no answer within ${CHECK_TIMEOUT_MS} ms`));
    c.once("connect", () => done(null));
    c.once("error", (err: NodeJS.ErrnoException) => done(`tcp ${a.text}: ${err.code ?? err.message}`));
  });
}

function httpCheck(url: string): Promise<string | null> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (problem: string | null) => {
      if (settled) return;
      settled = true;
      req.destroy();
      resolve(problem);
    };
    const req = http.get(url, { agent: false, timeout: CHECK_TIMEOUT_MS }, (res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      done(code >= 200 && code < 400 ? null : `${url}: HTTP ${code}`);
    });
    req.once("timeout", () => done(`${url}: no answer within ${CHECK_TIMEOUT_MS} ms`));
    req.once("error", (err: NodeJS.ErrnoException) => done(`${url}: ${err.code ?? err.message}`));
  });
}
