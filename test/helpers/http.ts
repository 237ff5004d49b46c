// HTTP helpers for tests against real servers under pidone: find a free port, GET on a fresh
// connection, and poll until the right process answers (bounded).
import http from "node:http";
import net from "node:net";
import type { Pidone } from "./pidone.js";

/** A port nobody listens on right now (tests share the host network and run in parallel). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** One GET on a fresh connection (no keep-alive: each request must reach whoever listens now). */
export function httpGet(port: number, urlPath: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${urlPath} timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/** The processes below pidone, one per line, for failure messages. */
export function formatProcs(procs: { pid: number; ppid: number; state: string; cmdline: string }[]): string {
  return procs.map((x) => `  ${x.pid} (ppid ${x.ppid}) ${x.state} ${x.cmdline}`).join("\n") || "  (none)";
}

/** Poll GET / (every 20 ms, bounded) until a JSON answer satisfies `ok`. Polling is the only way
 *  to know a server listens; a refused connection or an answer from the wrong process means "not yet". */
export async function answerFrom<A>(p: Pidone, port: number, ok: (a: A) => boolean, what: string, timeoutMs: number): Promise<A> {
  const deadline = performance.now() + timeoutMs;
  let last = "no answer yet";
  for (;;) {
    if (p.exit) throw new Error(`pidone exited (${JSON.stringify(p.exit)}) while waiting for ${what} on port ${port}\n${p.output()}`);
    try {
      const res = await httpGet(port, "/", 2000);
      last = `${res.status} ${res.body}`;
      if (res.status === 200) {
        const a = JSON.parse(res.body) as A;
        if (ok(a)) return a;
      }
    } catch (err) {
      last = (err as Error).message;
    }
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} on port ${port} (last: ${last})\n${formatProcs(p.tree())}\n${p.output()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
