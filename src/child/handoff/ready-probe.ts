// --overlap: is the next generation ready? It serves on the socket of each pair that new
// connections do not go to. A probe reaches it there alone: the steering program sends
// connections from the probe's own source port to that socket, and every client's still to the
// current generation. With --ready-notify it is READY=1 on its NOTIFY_SOCKET instead.
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { net } from "../../lazy-net.js";
import { loopbackHost } from "../../listen-addr.js";
import { checkHttpStatus, statusReady, type HttpVia } from "../../http-status.js";
import type { ReadySignal } from "../../ready-signal.js";
import type { Sockets } from "../../sys/sockets.js";
import type { PairListener } from "./held-sockets.js";
import type { NotifySocket } from "./notify-socket.js";
import { other, type Steering } from "./steering.js";

/** How often --overlap looks for the next generation's readiness (only while one starts). */
const READY_POLL_MS = 10;
/** Pause between two probes that found it not ready yet. */
const PROBE_RETRY_MS = 50;
/** Pause before trying again when the probe's steering program could not be attached. */
const STEER_RETRY_MS = 100;
/** Source ports for probes: above the kernel's default ephemeral range (32768-60999), so they
 *  rarely collide with a port in use; a collision just retries. */
const PROBE_PORTS = { low: 61000, high: 65535 };

/** Where a probe is. */
type ProbeState =
  | { kind: "starting" }
  /** Waiting for the next poll or attempt. */
  | { kind: "waiting"; timer: NodeJS.Timeout }
  /** A GET through the held socket is under way. */
  | { kind: "asking"; cancel: () => void }
  /** A connection is under way; once connected, `timer` is the next look at the accept queue. */
  | { kind: "connecting"; conn: Socket; timer: NodeJS.Timeout | null }
  | { kind: "over" };

/** What a probe works with: `l` is the pair it probes through (the first one). */
export interface ProbeDeps {
  sockets: Sockets;
  steering: Steering;
  notify: NotifySocket;
  log: Logger;
  l: PairListener;
}

/** Report once the generation started on the pair's other socket gives `signal`, with how
 *  ("notify", "http" or "accept"). Ends with the steering back to the plain program (every
 *  connection to the current generation) and the notify socket closed. Returns a canceller. */
export function awaitReady(deps: ProbeDeps, signal: ReadySignal, done: (how: string) => void): () => void {
  const { sockets, steering, notify, log, l } = deps;
  let state: ProbeState = { kind: "starting" };
  /** Stop whatever is under way; the steering goes back to the plain program. */
  const end = () => {
    if (state.kind === "waiting") clearTimeout(state.timer);
    if (state.kind === "asking") state.cancel();
    if (state.kind === "connecting") {
      if (state.timer) clearTimeout(state.timer);
      state.conn.destroy();
    }
    state = { kind: "over" };
    notify.close();
    steering.steer(l, l.held.slot);
  };
  const finish = (how: string) => {
    if (state.kind === "over") return;
    end();
    done(how);
  };
  const wait = (fn: () => void, ms: number) => {
    if (state.kind !== "over") state = { kind: "waiting", timer: setTimeout(fn, ms) };
  };
  const cancel = () => {
    if (state.kind !== "over") end();
  };

  if (signal.kind === "notify") {
    const poll = () => (notify.readySent() ? finish("notify") : wait(poll, READY_POLL_MS));
    poll();
    return cancel;
  }
  const a = l.address;
  const host = a.kind === "tcp" ? loopbackHost(a) : "127.0.0.1";
  const port = a.kind === "tcp" ? a.port : 0;
  const next = other(l.held.slot);
  /** Attach the program that routes `localPort` to the next generation; false if it failed. */
  const steerProbe = (localPort: number): boolean => {
    try {
      sockets.steerProbe(l.held.fds[l.held.slot], l.held.order.indexOf(l.held.slot), l.held.order.indexOf(next), localPort);
      return true;
    } catch (err) {
      log.error({ event: "probe-steer-failed", error: (err as Error).message });
      wait(attempt, STEER_RETRY_MS);
      return false;
    }
  };
  const attempt = () => {
    if (state.kind === "over") return;
    // A source port of our own, which the steering program recognises.
    const localPort = PROBE_PORTS.low + Math.floor(Math.random() * (PROBE_PORTS.high - PROBE_PORTS.low));
    if (!steerProbe(localPort)) return;
    const via: HttpVia = { host, port, localPort, ...(net().isIPv6(host) ? {} : { localAddress: "127.0.0.1" }) };
    if (signal.kind === "http") {
      const cancelGet = checkHttpStatus(`http://${signal.host}${signal.path}`, { via }, (answer) => {
        if (answer.kind === "status" && statusReady(answer.code)) finish("http");
        else wait(attempt, PROBE_RETRY_MS);
      });
      state = { kind: "asking", cancel: cancelGet };
      return;
    }
    connect(via);
  };
  /** accept: ready once our connection has left the next generation's accept queue (nobody
   *  else's connections go to that socket meanwhile). */
  const connect = (via: HttpVia) => {
    const conn = net().connect({ host: via.host, port: via.port, localPort: via.localPort, ...(via.localAddress ? { localAddress: via.localAddress } : {}) });
    state = { kind: "connecting", conn, timer: null };
    let connected = false;
    const fd = l.held.fds[next];
    const look = () => {
      if (state.kind !== "connecting" || state.conn !== conn) return;
      if (sockets.queued(fd) === 0) return finish("accept");
      state = { ...state, timer: setTimeout(look, READY_POLL_MS) };
    };
    // A connection that closes after connecting was accepted and closed by the app, unless it
    // is still queued; one that never connected is tried again.
    const failed = () => {
      if (state.kind !== "connecting" || state.conn !== conn) return;
      if (state.timer) clearTimeout(state.timer);
      conn.destroy();
      if (connected && sockets.queued(fd) === 0) return finish("accept");
      wait(attempt, PROBE_RETRY_MS);
    };
    conn.once("error", failed);
    conn.once("close", failed);
    conn.once("connect", () => {
      connected = true;
      look();
    });
  };
  attempt();
  return cancel;
}
