// The readiness checks --ready-tcp and --ready-http name, run on demand (no polling timer): by
// the health server for /readyz, and by `pidone restart` before it reports the new generation.
import type { TcpAddress } from "./listen-addr.js";
import { net } from "./lazy-net.js";
import { checkHttpStatus, statusReady } from "./http-status.js";

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

function httpCheck(url: string, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    checkHttpStatus(url, { timeoutMs }, (answer) => {
      switch (answer.kind) {
        case "status":
          return resolve(statusReady(answer.code) ? null : `${url}: HTTP ${answer.code}`);
        case "timeout":
          return resolve(`${url}: no answer within ${answer.ms} ms`);
        case "error":
          return resolve(`${url}: ${answer.code}`);
      }
    });
  });
}
