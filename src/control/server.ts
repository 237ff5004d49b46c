// The control socket behind `pidone restart` and `pidone status`: a unix socket (mode 0600, in a
// private directory by default, and the peer's uid checked with SO_PEERCRED) that turns a
// restart command into the same restart-requested event every other source emits, then reports
// when the new app runs. Works where `kill -USR1 1` cannot: with shareProcessNamespace, PID 1 is
// the pause process. Whatever a client sends, the answer is one line and pidone carries on.
import type { Socket } from "node:net";
import { chmodSync, lstatSync, mkdirSync, unlinkSync, type Stats } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import type { Crash, Dispatch, StatusSnapshot } from "../supervisor/events.js";
import { LineSplitter, type LineEvent } from "../line-splitter.js";
import {
  MAX_LINE_BYTES, MAX_TAIL_CHARS, parseRequest, type ControlRequest, type ControlResponse, type RestartResult,
} from "./protocol.js";
import { readinessProblem, type ReadinessChecks } from "../readiness.js";
import { describeStatus } from "../exit-status.js";
import { report } from "./status-report.js";
import { currentUid } from "../cli/control-socket-path.js";
import { loadPeerCred, type PeerCred, type ReadPeerCred } from "../sys/peercred.js";
import { net } from "../lazy-net.js";
import type { OutputSource } from "../output/capture.js";
import { pickGeneration, streamLogs } from "./logs-stream.js";

/** What the server needs from the supervisor: to send events, and to read and follow its status. */
export interface ControlDeps {
  dispatch: Dispatch;
  now: () => number;
  status(): StatusSnapshot;
  subscribe(listener: (s: StatusSnapshot) => void): () => void;
  log: Logger;
  /** The path is the default one: create its directory 0700 and refuse it unless it is ours. */
  privateDir?: boolean;
  /** --ready-http/--ready-tcp, which `restart` waits for (unless asked to wait only for running). */
  readiness?: ReadinessChecks;
  /** --overlap: a new generation takes over only once it is ready. */
  overlap?: boolean;
  /** The last lines generation N printed (null when they are not kept), for a crashed restart. */
  outputTail?: (generation: number) => string | null;
  /** The app's kept output, for `pidone logs` (absent when pidone does not capture it). */
  output?: OutputSource;
}

/** Why the socket could not be opened (mapped to a ConfigError or a warning by main). */
export class ControlSocketError extends Error {}

/** Connections served at once; more get a one-line "busy" answer. `pidone restart` holds one for
 *  as long as its restart takes, so a few dozen covers any script. */
const MAX_CONNECTIONS = 64;
/** A whole request line must arrive within this long of the connect (a total, not an idle,
 *  deadline: a client sending a byte a second is cut too). */
const REQUEST_DEADLINE_MS = 5000;
/** After the answer, how long a client that neither ends nor closes may keep the connection. */
const LINGER_MS = 1000;
/** Bytes read (and dropped) after a request line or an over-long line, before reading stops. */
const DISCARD_BYTES = 4 * MAX_LINE_BYTES;

/** Listen on `socketPath`. Rejects with ControlSocketError if another pidone owns it, something
 *  that is not a dead socket is in the way, or it cannot be created. Returns a closer that also
 *  removes the socket file (if it is still the one this server made). */
export async function startControlServer(socketPath: string, deps: ControlDeps): Promise<() => void> {
  const uid = currentUid();
  if (deps.privateDir) ensurePrivateDir(path.dirname(socketPath), uid);
  await removeStaleSocket(socketPath, deps.log);
  const active = new Set<Socket>();
  const ctx: Ctx = { deps, uid, peer: peerCredReader(deps.log) };
  // allowHalfOpen: a client may send its request and shut down its write side (socat, nc -N);
  // it still gets its answer.
  const server = net().createServer({ allowHalfOpen: true }, (conn) => {
    conn.on("error", () => conn.destroy());
    if (active.size >= MAX_CONNECTIONS) {
      conn.end(`${JSON.stringify({ ok: false, error: `busy: ${MAX_CONNECTIONS} connections are open, try again` })}\n`, () => conn.destroy());
      return;
    }
    active.add(conn);
    conn.once("close", () => active.delete(conn));
    serve(conn, ctx);
  });
  // A backstop below the busy answer: past this many sockets (busy ones still flushing
  // included) Node closes new ones at once, without running any JS for them.
  server.maxConnections = MAX_CONNECTIONS * 2;
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
  let ino: number;
  try {
    chmodSync(socketPath, 0o600);
    ino = lstatSync(socketPath).ino;
  } catch (err) {
    server.close();
    throw new ControlSocketError(`cannot set up ${socketPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  server.on("error", (err) => deps.log.warn({ event: "control-error", error: err.message }));
  return () => {
    server.close();
    for (const c of active) c.destroy();
    try {
      const st = lstatSync(socketPath);
      if (st.isSocket() && st.ino === ino) unlinkSync(socketPath);
    } catch {
      // already gone
    }
  };
}

/** mkdir `dir` 0700 if it is missing, then insist it is a real directory of ours that nobody
 *  else may enter: in a shared /tmp, another user could have made /tmp/pidone-<uid> first. */
function ensurePrivateDir(dir: string, uid: number): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EEXIST") throw new ControlSocketError(`cannot create the directory ${dir}: ${code ?? String(err)}`);
  }
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    throw new ControlSocketError(`cannot check the directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (!st.isDirectory()) throw new ControlSocketError(`${dir} is not a directory (${kind(st)}); refusing to use it`);
  if (st.uid !== uid) throw new ControlSocketError(`${dir} belongs to uid ${st.uid}, not to pidone's uid ${uid}; refusing to use it`);
  if ((st.mode & 0o077) !== 0) {
    throw new ControlSocketError(`${dir} has mode 0${(st.mode & 0o777).toString(8)}, but only its owner may use it (chmod 700 ${dir}); refusing to use it`);
  }
}

/** Remove what is at `socketPath` only if it is provably a dead socket: lstat says socket (not a
 *  symlink, whose target could be anything), and a connect to it is refused. Anything else in
 *  the way is an error, and is left untouched. */
async function removeStaleSocket(socketPath: string, log: Logger): Promise<void> {
  const problem = inTheWay(socketPath);
  if (problem !== null) throw new ControlSocketError(problem);
  let st: Stats;
  try {
    st = lstatSync(socketPath);
  } catch {
    return; // nothing there
  }
  const answer = await probe(socketPath);
  if (answer === "listening") throw new ControlSocketError(`another process is already listening on ${socketPath}`);
  if (answer !== "ECONNREFUSED") throw new ControlSocketError(`cannot check the socket ${socketPath}: ${answer}`);
  try {
    // Still the socket that refused (not replaced meanwhile)? Then it is a pidone's that was killed.
    const again = lstatSync(socketPath);
    if (again.isSocket() && again.ino === st.ino && again.dev === st.dev) {
      unlinkSync(socketPath);
      log.info({ event: "control-stale-socket-removed", path: socketPath });
    }
  } catch {
    // gone meanwhile
  }
}

/** What at `socketPath` pidone would never remove (anything but a socket: a symlink, whatever
 *  it points to, a file, a directory), as a one-line reason; null if nothing or a socket is there.
 *  Only reads: preflight asks before any side effect, and the server again before it listens. */
export function inTheWay(socketPath: string): string | null {
  let st: Stats;
  try {
    st = lstatSync(socketPath);
  } catch {
    // Nothing there, or a directory we cannot search: listen() then reports why it cannot.
    return null;
  }
  if (st.isSocket()) return null;
  return `${socketPath} exists and is ${kind(st)}, not a socket; pidone removes only a dead socket of its own (remove it, or choose another path)`;
}

function kind(st: Stats): string {
  if (st.isSymbolicLink()) return "a symbolic link";
  if (st.isDirectory()) return "a directory";
  if (st.isFile()) return "a regular file";
  return "a special file";
}

/** Connect to `socketPath`: "listening", or the error code of the failed connect. */
function probe(socketPath: string): Promise<string> {
  return new Promise((resolve) => {
    const c = net().connect(socketPath);
    c.once("connect", () => {
      c.destroy();
      resolve("listening");
    });
    c.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

interface Ctx {
  deps: ControlDeps;
  uid: number;
  peer: (conn: Socket) => PeerCred | null;
}

/** SO_PEERCRED through koffi, loaded at the first connection (not at startup: koffi costs
 *  milliseconds). Without it the socket's 0600 mode and its 0700 directory still stand guard. */
function peerCredReader(log: Logger): (conn: Socket) => PeerCred | null {
  let read: ReadPeerCred | null | undefined;
  let logged = false;
  const unavailable = (why: string) => {
    if (logged) return;
    logged = true;
    log.debug({ event: "control-peercred-unavailable", reason: why, note: "relying on the socket's file permissions" });
  };
  return (conn) => {
    if (read === undefined) {
      try {
        read = loadPeerCred();
      } catch (err) {
        read = null;
        unavailable((err as Error).message);
      }
    }
    if (!read) return null;
    // A unix Socket's handle is a Pipe whose fd is the accepted socket.
    const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
    const cred = typeof fd === "number" && fd >= 0 ? read(fd) : null;
    if (!cred) unavailable(`no credentials for fd ${String(fd)}`);
    return cred;
  };
}

/** One connection: at most one request line, one answer line, then close. */
function serve(conn: Socket, ctx: Ctx): void {
  const { deps } = ctx;
  let phase: "reading" | "answering" | "answered" = "reading";
  let cleanup = (): void => {};
  let deadline = setTimeout(() => conn.destroy(), REQUEST_DEADLINE_MS);
  const rearm = (ms: number) => {
    clearTimeout(deadline);
    deadline = setTimeout(() => conn.destroy(), ms);
  };
  conn.once("close", () => {
    clearTimeout(deadline);
    cleanup();
  });
  const reply = (r: ControlResponse) => {
    if (phase === "answered" || conn.destroyed) return;
    phase = "answered";
    // end(), not destroy(): a client still writing when the socket closes gets EPIPE and may
    // never read the answer. So the connection closes when the client ends or closes too, or
    // at the linger deadline; meanwhile its bytes are read and dropped, up to DISCARD_BYTES.
    rearm(LINGER_MS);
    conn.end(`${JSON.stringify(r)}\n`);
  };

  const cred = ctx.peer(conn);
  if (cred && cred.uid !== ctx.uid && cred.uid !== 0) {
    deps.log.debug({ event: "control-refused", peerUid: cred.uid, peerPid: cred.pid });
    return reply({ ok: false, error: `permission denied: uid ${cred.uid} is neither pidone's user (uid ${ctx.uid}) nor root` });
  }

  const lines = new LineSplitter(MAX_LINE_BYTES);
  const take = (events: LineEvent[]) => {
    for (const ev of events) {
      if (phase !== "reading") return;
      if (ev.kind === "too-long") return reply({ ok: false, error: `request too long (the limit is ${MAX_LINE_BYTES} bytes per line)` });
      const parsed = parseRequest(ev.line);
      if (!parsed.ok) {
        deps.log.debug({ event: "control-bad-request", error: parsed.error });
        return reply({ ok: false, error: parsed.error });
      }
      phase = "answering";
      const req = parsed.value;
      if (req.cmd === "status") return reply({ ok: true, status: report(deps.status(), deps.now()) });
      if (req.cmd === "logs") {
        const gen = deps.output ? pickGeneration(deps.output.generations(), req) : "pidone does not keep the app's output here (its stdout and stderr are terminals, or the capture could not start: see its output-not-captured warning)";
        if (typeof gen === "string") return reply({ ok: false, error: gen });
        phase = "answered";
        clearTimeout(deadline);
        conn.write(`${JSON.stringify({ ok: true, logs: { generation: gen.generation } })}\n`);
        cleanup = streamLogs(conn, req, deps.output as OutputSource, gen);
        return;
      }
      rearm(req.timeoutMs + LINGER_MS);
      cleanup = restart(req, deps, reply);
    }
  };
  // Whatever a client sends must not become an uncaught exception: that would stop the app.
  const guarded = (events: () => LineEvent[]) => {
    try {
      take(events());
    } catch (err) {
      deps.log.warn({ event: "control-error", error: err instanceof Error ? err.message : String(err) });
      reply({ ok: false, error: "internal error in pidone's control server" });
    }
  };
  let discarded = 0;
  conn.on("data", (chunk: Buffer) => {
    if (phase === "reading") return guarded(() => lines.push(chunk));
    // Past the budget, stop reading: the client's writes then block (it can still read the
    // answer) until the linger deadline closes the connection. Every read costs a 64 KiB buffer
    // that only the next GC frees, so a client streaming megabytes must not be read to the end.
    discarded += chunk.length;
    if (discarded > DISCARD_BYTES) conn.pause();
  });
  conn.on("end", () => {
    if (phase !== "reading") return;
    guarded(() => lines.end());
    if (phase === "reading") reply({ ok: false, error: "no request before the end of input (send one JSON line, e.g. {\"cmd\":\"status\"})" });
  });
}

/** How often `restart` runs the --ready-http/--ready-tcp check while it waits. */
const READY_POLL_MS = 100;
/** One readiness check's own bound. */
const READY_CHECK_MS = 800;

/** Dispatch a restart and answer with its outcome: the new generation ready (its
 *  --ready-http/--ready-tcp check passed, or --overlap handed over to it), or up through the
 *  settle window when there is no check, or running when that is all `wait` asks; or it exited
 *  first (crashed, with its status and output tail), or --overlap kept the old generation. Returns
 *  what to undo if the client goes away first (the restart itself goes on). */
function restart(req: Extract<ControlRequest, { cmd: "restart" }>, deps: ControlDeps, reply: (r: ControlResponse) => void): () => void {
  const { timeoutMs, wait, settleMs } = req;
  const first = deps.status();
  const before = first.generation;
  const failedBefore = first.failedRestarts;
  const oldPid = first.pid;
  const started = deps.now();
  let unsubscribe = (): void => {};
  let checking: NodeJS.Timeout | null = null;
  let settling: NodeJS.Timeout | null = null;
  let over = false;
  const stop = () => {
    over = true;
    clearTimeout(timer);
    if (checking) clearTimeout(checking);
    if (settling) clearTimeout(settling);
    unsubscribe();
  };
  const finish = (r: ControlResponse) => {
    if (over) return;
    stop();
    reply(r);
  };
  const ms = () => Math.round(deps.now() - started);
  const succeed = (s: StatusSnapshot, outcome: RestartResult) => finish({ ok: true, pid: s.pid as number, generation: s.generation, ms: outcome.ms, outcome });
  // The output tail is read a turn later: the exited generation's last bytes may still sit in
  // its pipe, read in the same turn of the event loop as its exit. When pidone is exiting there
  // is no later turn (the exit closes the socket): the answer goes at once.
  const fail = (error: string, outcome: RestartResult) => {
    if (over) return;
    stop();
    const answer = () => reply({ ok: false, error, outcome: { ...outcome, tail: tailOf(outcome.generation, deps) } as RestartResult });
    if (deps.status().state === "exited") answer();
    else setImmediate(answer);
  };
  const checks = deps.readiness;
  // With --overlap the machine itself waits for readiness before the next generation takes over.
  const needCheck = wait === "ready" && !deps.overlap && checks !== undefined && (checks.readyHttp !== undefined || checks.readyTcp !== undefined);
  let lastProblem: string | null = null;
  let crash: Crash | null = null;
  // The new generation that runs and waits for the settle window, if any.
  let settlingPid: number | null = null;
  const timer = setTimeout(() => {
    if (crash) return crashed(crash);
    finish({
      ok: false,
      error: lastProblem !== null
        ? `the new app process was not ready within ${timeoutMs} ms (${lastProblem})`
        : settlingPid !== null
          ? `the new app process (pid ${settlingPid}) was not up through the settle window (${settleMs} ms) within ${timeoutMs} ms`
          : `no new app process within ${timeoutMs} ms`,
    });
  }, timeoutMs);
  const crashed = (c: Crash) => {
    const status = describeStatus(c.status) as string;
    const pid = c.pid > 0 ? c.pid : null;
    fail(`the new app process${pid === null ? "" : ` (pid ${pid})`} exited (${status}) after ${Math.round(c.upMs)} ms, before it was ready${c.afterChange ? "; pidone waits for the next change" : ""}`, {
      kind: "crashed", pid, generation: c.generation, oldPid, ms: ms(), status, upMs: Math.round(c.upMs), tail: null,
    });
  };
  let checked = -1;
  let settled = -1;
  const check = (generation: number) => {
    void readinessProblem(checks as ReadinessChecks, READY_CHECK_MS).then((problem) => {
      if (over) return;
      const s = deps.status();
      if (s.generation !== generation || s.state !== "running") return; // the subscription reports it
      if (problem === null) return succeed(s, { kind: "ready", pid: s.pid as number, generation, oldPid, ms: ms(), how: checks?.readyHttp !== undefined ? "http" : "tcp" });
      lastProblem = problem;
      checking = setTimeout(() => check(generation), READY_POLL_MS);
    });
  };
  const settle = (s: StatusSnapshot) => {
    if (settled === s.generation) return;
    settled = s.generation;
    settlingPid = s.pid;
    if (settling) clearTimeout(settling);
    const startedAt = s.startedAt ?? deps.now();
    const arm = () => {
      // A timer may fire a fraction of a millisecond early by this clock: then wait the rest.
      const left = settleMs - (deps.now() - startedAt);
      if (left > 0) {
        settling = setTimeout(arm, Math.ceil(left));
        return;
      }
      const now = deps.status();
      // Still that generation, alive (a later restart may be replacing it: it stayed up).
      if (now.generation !== s.generation || now.pid !== s.pid) return;
      succeed(now, { kind: "up", pid: s.pid as number, generation: s.generation, oldPid, ms: ms(), upMs: Math.round(deps.now() - startedAt) });
    };
    arm();
  };
  const follow = (s: StatusSnapshot) => {
    if (over) return;
    if (s.lastCrash && s.lastCrash.generation > before) {
      crash = s.lastCrash;
      // Answer once its leftovers are swept: then what it printed is all there.
      if (s.state !== "stopping") crashed(crash);
      return;
    }
    if (s.failedRestarts > failedBefore && s.lastRestartFailure) {
      const f = s.lastRestartFailure;
      const status = describeStatus(f.status);
      return fail(`the new app process ${f.reason}${status ? ` (${status})` : ""}; pid ${s.pid} still serves`, {
        kind: "kept", pid: f.pid, generation: f.generation, oldPid: s.pid as number, ms: ms(), reason: f.reason, status, tail: null,
      });
    }
    if (s.state === "exited") return finish({ ok: false, error: "pidone is exiting" });
    if ((s.state === "running" || s.state === "handover") && s.generation > before && s.pid !== null) {
      if (wait === "running") return succeed(s, { kind: "running", pid: s.pid, generation: s.generation, oldPid, ms: ms() });
      if (deps.overlap) return succeed(s, { kind: "ready", pid: s.pid, generation: s.generation, oldPid, ms: ms(), how: "handover" });
      if (!needCheck) return settle(s);
      if (checked !== s.generation) {
        checked = s.generation;
        check(s.generation);
      }
    }
  };
  unsubscribe = deps.subscribe(follow);
  deps.dispatch({ type: "restart-requested", source: "control", at: deps.now() });
  return stop;
}

/** The end of generation N's output, bounded for the answer line. */
function tailOf(generation: number, deps: ControlDeps): string | null {
  const tail = deps.outputTail?.(generation) ?? null;
  return tail === null || tail.length <= MAX_TAIL_CHARS ? tail : tail.slice(tail.length - MAX_TAIL_CHARS);
}
