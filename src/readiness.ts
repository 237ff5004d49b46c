// The readiness checks --ready-tcp and --ready-http name, run on demand (no polling timer): by
// the health server for /readyz, and by `pidone restart` before it reports the new generation.
import type { TcpAddress } from "./listen-addr.js";
import { net } from "./lazy-net.js";

/** The checks configured; none configured means "running is ready". */
export interface ReadinessChecks {
  readyTcp?: TcpAddress;
  readyHttp?: string;
}

/** Null when every configured check passes, else what failed; each check gives up after `timeoutMs`. */
export async function readinessProblem(deps: ReadinessChecks, timeoutMs: number): Promise<string | null> {
  const [tcp, web] = await Promise.all([
    deps.readyTcp ? tcpCheck(deps.readyTcp, timeoutMs) : null,
    deps.readyHttp ? httpCheck(deps.readyHttp, timeoutMs) : null,
  ]);
  return tcp ?? web;
}

function tcpCheck(a: TcpAddress, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const c = net().connect({ host: a.host, port: a.port });
    const done = (problem: string | null) => {
      c.destroy();
      resolve(problem);
    };
    c.setTimeout(timeoutMs, () => done(`tcp ${a.text}: no answer within ${timeoutMs} ms`));
    c.once("connect", () => done(null));
    c.once("error", (err: NodeJS.ErrnoException) => done(`tcp ${a.text}: ${err.code ?? err.message}`));
  });
}

/** node:http loads on the first check, not with the supervisor: it costs about 2 ms, before the
 *  spawn. With require: the bundle may not hold a dynamic import() (src/boot/load-bundle.js). */
function httpCheck(url: string, timeoutMs: number): Promise<string | null> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const http = require("node:http") as typeof import("node:http");
  return new Promise((resolve) => {
    let settled = false;
    const done = (problem: string | null) => {
      if (settled) return;
      settled = true;
      req.destroy();
      resolve(problem);
    };
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      done(code >= 200 && code < 400 ? null : `${url}: HTTP ${code}`);
    });
    req.once("timeout", () => done(`${url}: no answer within ${timeoutMs} ms`));
    req.once("error", (err: NodeJS.ErrnoException) => done(`${url}: ${err.code ?? err.message}`));
  });
}
