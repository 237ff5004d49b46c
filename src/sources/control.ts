// The control socket behind `pidone restart` and `pidone status`: a unix socket (mode 0600, so
// only pidone's user and root can use it) that turns a restart command into the same
// restart-requested event every other source emits, then reports when the new app runs.
// Works where `kill -USR1 1` cannot: with shareProcessNamespace, PID 1 is the pause process.
import net from "node:net";
import { chmodSync, existsSync, unlinkSync } from "node:fs";
import type { Logger } from "pino";
import type { Dispatch, StatusSnapshot } from "../supervisor/events.js";
import { lineReader, type ControlRequest, type ControlResponse, type StatusReport } from "../control/protocol.js";
import { describeStatus } from "../exit-code.js";

/** What the server needs from the supervisor: to send events, and to read and follow its status. */
export interface ControlDeps {
  dispatch: Dispatch;
  now: () => number;
  status(): StatusSnapshot;
  subscribe(listener: (s: StatusSnapshot) => void): () => void;
  log: Logger;
}

/** Why the socket could not be opened (mapped to a ConfigError or a warning by main). */
export class ControlSocketError extends Error {}

/** Build the report `pidone status` prints. */
export function report(s: StatusSnapshot, now: number): StatusReport {
  return {
    state: s.state,
    pid: s.pid,
    generation: s.generation,
    uptimeMs: s.startedAt === null ? null : Math.round(now - s.startedAt),
    restarts: s.restarts,
    lastExit: describeStatus(s.lastExit),
    lastRestartReason: s.lastRestartReason,
    supervisorPid: process.pid,
  };
}

/** Is something listening on `socketPath`? */
function probe(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socketPath);
    c.once("connect", () => { c.destroy(); resolve(true); });
    c.once("error", () => resolve(false));
  });
}

/** Listen on `socketPath`. Rejects with ControlSocketError if another pidone owns it or it
 *  cannot be created. Returns a closer that also removes the socket file. */
export async function startControlServer(socketPath: string, deps: ControlDeps): Promise<() => void> {
  if (existsSync(socketPath)) {
    // Probe only when there is a file: the connect costs a round of the event loop at startup.
    if (await probe(socketPath)) throw new ControlSocketError(`another process is already listening on ${socketPath}`);
    try {
      unlinkSync(socketPath); // a stale socket left by a pidone that was killed
    } catch {
      // gone meanwhile
    }
  }
  const server = net.createServer((conn) => handle(conn, deps));
  // Create the socket file 0600 from the start (umask), not chmod it after a window.
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => reject(new ControlSocketError(`cannot listen on ${socketPath}: ${err.code ?? err.message}`)));
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  chmodSync(socketPath, 0o600);
  server.on("error", (err) => deps.log.warn({ event: "control-error", error: err.message }));
  return () => {
    server.close();
    try {
      unlinkSync(socketPath);
    } catch {
      // already gone
    }
  };
}

function handle(conn: net.Socket, deps: ControlDeps): void {
  const reply = (r: ControlResponse) => {
    if (!conn.destroyed) conn.end(`${JSON.stringify(r)}\n`);
  };
  conn.on("error", () => conn.destroy());
  conn.setTimeout(5000, () => { if (!answered) conn.destroy(); });
  let answered = false;
  conn.on("data", lineReader((line) => {
    if (answered) return;
    answered = true;
    conn.setTimeout(0);
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
    } catch {
      return reply({ ok: false, error: "malformed request" });
    }
    if (req.cmd === "status") return reply({ ok: true, status: report(deps.status(), deps.now()) });
    if (req.cmd === "restart") return restart(req.timeoutMs, conn, deps, reply);
    return reply({ ok: false, error: `unknown command '${String((req as { cmd: unknown }).cmd)}'` });
  }));
}

function restart(timeoutMs: number, conn: net.Socket, deps: ControlDeps, reply: (r: ControlResponse) => void): void {
  const before = deps.status().generation;
  let unsubscribe = (): void => {};
  const finish = (r: ControlResponse) => {
    clearTimeout(timer);
    unsubscribe();
    reply(r);
  };
  const timer = setTimeout(() => finish({ ok: false, error: `no new app process within ${timeoutMs} ms` }), Math.max(1, timeoutMs));
  unsubscribe = deps.subscribe((s) => {
    if (s.state === "running" && s.generation > before && s.pid !== null) finish({ ok: true, pid: s.pid, generation: s.generation });
    else if (s.state === "exited") finish({ ok: false, error: "pidone is exiting" });
    else if (s.state === "backoff" && s.generation > before) {
      finish({ ok: false, error: `the new app process failed (${describeStatus(s.lastExit)}); pidone is backing off` });
    }
  });
  conn.once("close", () => { clearTimeout(timer); unsubscribe(); });
  deps.dispatch({ type: "restart-requested", source: "control", at: deps.now() });
}
