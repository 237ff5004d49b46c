// Socket handoff (--listen): pidone binds and listens once, at startup, and every app generation
// gets the same sockets as fds 3, 4, ... with the systemd protocol (LISTEN_FDS, LISTEN_FDNAMES,
// LISTEN_PID). Between two generations the sockets stay open in pidone, so new connections wait
// in the kernel's backlog instead of being refused.
//
// A restart drains the old generation before it is told to stop. Each TCP address has two
// sockets in one SO_REUSEPORT group, and a one-instruction classic BPF program tells the kernel
// which of them gets new connections. A restart first steers new connections to the other socket
// (they wait there for the next generation), lets the old generation accept what is already
// queued on its own socket, and only then signals it. Without this, a server that accepted a
// connection in the same instant it began to shut down closes it unread (uvicorn does), and the
// client sees a reset. Unix sockets are shared by all generations, without a drain.
//
// LISTEN_PID must be the app's own pid, so each generation starts through the exec shim
// (child/exec-shim.ts). Without --listen there is no shim and nothing of this runs.
import { unlinkSync } from "node:fs";
import net from "node:net";
import type { Logger } from "pino";
import { BindError, ConfigError } from "../errors.js";
import { describeBindError, fdName, loopbackHost, type ListenAddress } from "../listen-addr.js";
import { loadSockets, type Sockets } from "../sys/sockets.js";
import type { SpawnVia } from "./spawn.js";
import type { ReadySignal } from "../ready-signal.js";
import { execShim } from "./exec-shim.js";
import { unreadConnections } from "../sys/proc-net.js";


/** Generous: a burst of connections during a restart must wait, not be dropped. The kernel caps
 *  it at net.core.somaxconn (4096 by default since Linux 5.4). */
const BACKLOG = 1024;
/** How often a drain looks at the old socket's accept queue. */
const DRAIN_POLL_MS = 5;
/** A drain gives up when the old generation has accepted nothing for this long: it hangs, or is
 *  still booting, or every worker is busy. New connections then go back to its socket, for the
 *  next generation to take over with what is queued there; only those that came in this window
 *  wait on the other socket. */
const DRAIN_STALL_MS = 100;
/** Once nothing is queued for the old generation, how long the drain waits for it to read the
 *  connections it accepted. A server that works reads one within milliseconds of accepting it;
 *  one that has not after this is busy or hung, and the restart goes on. */
const UNREAD_WAIT_MS = 500;
/** How often --overlap looks for the next generation's readiness (only while one starts). */
const READY_POLL_MS = 10;
/** Pause between two readiness probes that found it not ready yet. */
const PROBE_RETRY_MS = 50;
/** Source ports for readiness probes: above the kernel's default ephemeral range (32768-60999),
 *  so they rarely collide with a port in use; a collision just retries. */
const PROBE_PORTS = { low: 61000, high: 65535 };

/** How a drain ended: after `ms`, with `left` connections the old generation did not accept,
 *  and `unread` it accepted but had not read when the drain stopped waiting. */
export interface DrainResult {
  ms: number;
  left: number;
  unread: number;
}

/** The sockets pidone holds for the app, and how each generation gets them. */
export interface Handoff {
  /** True when a restart can drain the old generation first (some socket is TCP). */
  readonly drains: boolean;
  /** Every listening descriptor held, of every generation's slot (the preload zygote holds them all). */
  readonly heldFds: readonly number[];
  /** How to spawn the next generation: the exec shim, the environment, the fds to hand over. */
  spawnVia(): SpawnVia;
  /** Send new connections to the next generation's sockets, and report once the running one has
   *  accepted everything already queued for it and read what it accepted (`members`: its
   *  processes, looked up on each check); if it stops accepting, send them back to its sockets
   *  and report what it left. Returns a canceller. */
  drain(done: (result: DrainResult) => void, handover?: boolean, members?: () => number[]): () => void;
  /** At exit: remove unix socket files. */
  close(): void;
  /** True when every address has two steerable sockets, as --overlap needs. */
  readonly steersAll: boolean;
  /** --overlap: how to spawn the next generation while the current one serves: on the sockets
   *  new connections do not go to, with a NOTIFY_SOCKET of its own when `signal` is notify. */
  spawnNextVia(signal: ReadySignal): SpawnVia;
  /** --overlap: report once the generation started by the last spawnNextVia is ready; a probe
   *  connection reaches it alone, every client still reaches the current one. Returns a canceller. */
  awaitReady(signal: ReadySignal, done: (how: string) => void): () => void;
}

/** One --listen address. A TCP one has two sockets in one SO_REUSEPORT group, used by
 *  generations in turn, and `slot` is the one the kernel sends new connections to; a unix one
 *  (or a TCP one where steering is unavailable) has a single socket every generation shares. */
interface Listener {
  address: ListenAddress;
  fds: number[];
  slot: number;
  /** The slots in the order of the kernel's group array, which the BPF program indexes: a socket
   *  joins at the end, and one that leaves it is replaced by the last (two here: the other one). */
  order: number[];
}

/** Open every --listen socket, or throw a ConfigError naming the one that failed. Logs
 *  `listening` for each. */
export function openHandoff(addresses: readonly ListenAddress[], log: Logger, env: NodeJS.ProcessEnv = process.env): Handoff {
  let sockets: Sockets;
  try {
    sockets = loadSockets();
  } catch (err) {
    throw new ConfigError(`--listen: cannot load the socket syscalls through koffi (${(err as Error).message})`);
  }
  const listeners: Listener[] = [];
  for (const a of addresses) {
    try {
      listeners.push({ address: a, fds: a.kind === "tcp" ? openPair(sockets, a, log) : [sockets.listen(a, BACKLOG)], slot: 0, order: [0, 1] });
    } catch (err) {
      for (const fd of listeners.flatMap((l) => l.fds)) sockets.close(fd);
      if (err instanceof BindError) throw new ConfigError(describeBindError(err.code, a, "--listen"));
      throw err;
    }
  }
  addresses.forEach((a, i) => log.info({ event: "listening", fd: 3 + i, address: a.text }));
  const steered = () => listeners.filter((l) => l.fds.length === 2);
  const base = { ...env, LISTEN_FDS: String(listeners.length), LISTEN_FDNAMES: addresses.map(fdName).join(":") };
  const shim = execShim(env);
  let notify: { fd: number; name: string } | null = null;
  let notifyCount = 0;

  return {
    drains: steered().length > 0,
    heldFds: listeners.flatMap((l) => l.fds),
    spawnVia() {
      // No generation runs now. Connections queued on a socket the next one will not get would
      // wait forever: the last generation stopped accepting before taking them (it hung, or it
      // exited during its drain). Hand over the socket where clients wait; flush the other.
      for (const l of steered()) {
        const other = 1 - l.slot;
        const [mine, theirs] = [sockets.queued(l.fds[l.slot] as number), sockets.queued(l.fds[other] as number)];
        // Keep the longer queue; the shorter one cannot be served by anyone.
        if (theirs > mine) steer(l, other);
        const stranded = Math.min(mine, theirs);
        if (stranded > 0) flush(l, 1 - l.slot, stranded);
      }
      return { fds: listeners.map((l) => l.fds[l.slot] as number), env: base, shim };
    },
    steersAll: listeners.every((l) => l.fds.length === 2),
    spawnNextVia(signal) {
      closeNotify();
      const env: NodeJS.ProcessEnv = { ...base };
      if (signal.kind === "notify") {
        // One socket per generation: whatever arrives on it comes from that generation.
        const name = `pidone-notify-${process.pid}-${++notifyCount}`;
        notify = { fd: sockets.notifySocket(name), name };
        env.NOTIFY_SOCKET = `@${name}`;
      }
      return { fds: listeners.map((l) => l.fds[l.fds.length === 2 ? 1 - l.slot : 0] as number), env, shim };
    },
    awaitReady(signal, done) {
      let timer: NodeJS.Timeout | null = null;
      let conn: net.Socket | null = null;
      let over = false;
      const l = steered()[0] as Listener;
      const end = () => {
        over = true;
        if (timer) clearTimeout(timer);
        conn?.destroy();
        conn = null;
        closeNotify();
        // Back to the plain program: every connection to the current generation.
        steer(l, l.slot);
      };
      const finish = (how: string) => {
        if (over) return;
        end();
        done(how);
      };
      const later = (fn: () => void, ms: number) => {
        if (!over) timer = setTimeout(fn, ms);
      };
      if (signal.kind === "notify") {
        const poll = () => {
          for (let msg = notify && sockets.receive(notify.fd); msg; msg = notify && sockets.receive(notify.fd)) {
            if (msg.split("\n").includes("READY=1")) return finish("notify");
          }
          later(poll, READY_POLL_MS);
        };
        poll();
        return end;
      }
      const next = 1 - l.slot;
      const a = l.address as Extract<ListenAddress, { kind: "tcp" }>;
      const host = loopbackHost(a);
      const attempt = () => {
        if (over) return;
        // A source port of our own, which the steering program recognises.
        const port = PROBE_PORTS.low + Math.floor(Math.random() * (PROBE_PORTS.high - PROBE_PORTS.low));
        try {
          sockets.steerProbe(l.fds[l.slot] as number, l.order.indexOf(l.slot), l.order.indexOf(next), port);
        } catch (err) {
          log.error({ event: "probe-steer-failed", error: (err as Error).message });
          return later(attempt, 100);
        }
        const c = net.connect({ host, port: a.port, localPort: port, ...(net.isIPv6(host) ? {} : { localAddress: "127.0.0.1" }) });
        conn = c;
        let answered = false;
        const retry = () => {
          c.destroy();
          if (conn === c && !answered) later(attempt, PROBE_RETRY_MS);
        };
        c.once("error", retry);
        c.once("close", retry);
        c.once("connect", () => {
          if (signal.kind === "http") {
            c.write(`GET ${signal.path} HTTP/1.1\r\nHost: ${signal.host}\r\nUser-Agent: pidone-ready\r\nConnection: close\r\n\r\n`);
            let head = "";
            c.on("data", (d: Buffer) => {
              head += d.toString("latin1");
              const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
              if (!m && head.length < 64 && !head.includes("\n")) return;
              answered = true;
              const code = m ? Number(m[1]) : 0;
              if (code >= 200 && code < 400) return finish("http");
              c.destroy();
              later(attempt, PROBE_RETRY_MS);
            });
            return;
          }
          // Accepted once our connection has left the next generation's accept queue: nobody
          // else's connections go to that socket meanwhile.
          const fd = l.fds[next] as number;
          const look = () => {
            if (over || conn !== c) return;
            if (sockets.queued(fd) === 0) {
              answered = true;
              return finish("accept");
            }
            later(look, READY_POLL_MS);
          };
          look();
        });
      };
      attempt();
      return end;
    },
    drain(done, handover = false, members = () => []) {
      const started = performance.now();
      const draining = steered().map((l) => ({ l, slot: l.slot }));
      const old = draining.map(({ l, slot }) => l.fds[slot] as number);
      const ports = draining.map(({ l }) => (l.address as Extract<ListenAddress, { kind: "tcp" }>).port);
      for (const { l, slot } of draining) steer(l, 1 - slot);
      // Done once the old sockets are seen empty twice in a row (a handshake under way when the
      // steering changed still lands on the old socket, one round trip later), and the old
      // generation has read every connection it accepted: one it would close unread at its
      // shutdown is a reset for the client.
      let last = Infinity;
      let progressAt = started;
      let emptyBefore = false;
      let emptyAt: number | null = null;
      const look = (): boolean => {
        const left = old.reduce((n, fd) => n + sockets.queued(fd), 0);
        const t = performance.now();
        if (left < last) progressAt = t;
        last = left;
        if (left === 0 && emptyBefore) {
          emptyAt ??= t;
          const unread = unreadOf(members, ports);
          if (unread === 0 || t - emptyAt >= UNREAD_WAIT_MS) return finish(0, t, unread);
          return false;
        }
        emptyBefore = left === 0;
        if (left > 0) emptyAt = null;
        if (left > 0 && t - progressAt >= DRAIN_STALL_MS) return finish(left, t, 0);
        return false;
      };
      const finish = (left: number, t: number, unread: number): true => {
        clearInterval(timer);
        // In a handover (--overlap) the next generation already serves: what the old one left
        // queued is flushed (reset, or moved where tcp_migrate_req=1) rather than steered back.
        if (left > 0) for (const { l, slot } of draining) {
          if (!handover) steer(l, slot);
          else {
            const n = sockets.queued(l.fds[slot] as number);
            if (n > 0) flush(l, slot, n);
          }
        }
        done({ ms: Math.round((t - started) * 100) / 100, left, unread });
        return true;
      };
      const timer = setInterval(look, DRAIN_POLL_MS);
      look();
      return () => clearInterval(timer);
    },
    close() {
      for (const a of addresses) {
        if (a.kind !== "unix") continue;
        try {
          unlinkSync(a.path);
        } catch {
          // already gone
        }
      }
    },
  };

  /** Unread connections of the generation, 0 if /proc cannot say: this runs in a timer of PID 1,
   *  where a throw would end pidone; the drain then ends as it did before this check. */
  function unreadOf(members: () => number[], ports: number[]): number {
    try {
      return unreadConnections(members(), ports);
    } catch (err) {
      log.debug({ event: "unread-unknown", error: (err as Error).message });
      return 0;
    }
  }

  function closeNotify(): void {
    if (notify) sockets.close(notify.fd);
    notify = null;
  }

  function steer(l: Listener, slot: number): void {
    try {
      sockets.steer(l.fds[slot] as number, l.order.indexOf(slot));
      l.slot = slot;
    } catch (err) {
      // It worked at startup; if it stops working, keep handing over the socket still steered to.
      log.error({ event: "steer-failed", address: l.address.text, error: (err as Error).message });
    }
  }

  /** Take the `count` connections queued on socket `slot` off it without accepting them: leave
   *  the group and listen again. The kernel resets them, or where net.ipv4.tcp_migrate_req=1
   *  moves them to the other socket, whose generation then serves them. */
  function flush(l: Listener, slot: number, count: number): void {
    const fd = l.fds[slot] as number;
    const other = l.fds[1 - slot] as number;
    const before = sockets.queued(other);
    if (!sockets.unlisten(fd)) {
      log.error({ event: "flush-failed", address: l.address.text, count });
      return;
    }
    // Alone in the group now: point the program at the other socket before this one rejoins.
    l.order = [1 - slot];
    steer(l, 1 - slot);
    const migrated = Math.max(0, Math.min(count, sockets.queued(other) - before));
    const why = { address: l.address.text, reason: "queued for a generation that stopped accepting" };
    if (migrated < count) log.warn({ event: "connections-reset", count: count - migrated, migrated, ...why });
    else log.info({ event: "connections-migrated", count, ...why });
    if (sockets.relisten(fd, BACKLOG)) {
      l.order = [1 - slot, slot];
      return;
    }
    // Cannot happen short of a kernel change; carry on with one socket shared by all generations.
    log.error({ event: "drain-unavailable", address: l.address.text, note: "listen() failed after a flush; restarts will not drain first" });
    sockets.close(fd);
    l.fds = [other];
    l.slot = 0;
    l.order = [0];
  }
}

/** Two listening sockets for `a` in one SO_REUSEPORT group, new connections steered to the
 *  first. Where the kernel cannot steer (before Linux 4.5), one socket that every generation
 *  shares. */
function openPair(sockets: Sockets, a: ListenAddress, log: Logger): number[] {
  // SO_REUSEPORT would silently join a group another process of the same user listens in;
  // a plain bind first fails if anything at all listens there.
  sockets.probe(a);
  const first = sockets.listen(a, BACKLOG, true);
  let second = -1;
  try {
    second = sockets.listen(a, BACKLOG, true);
    sockets.steer(first, 0);
    return [first, second];
  } catch (err) {
    if (second >= 0) sockets.close(second);
    log.warn({ event: "drain-unavailable", address: a.text, error: (err as Error).message, note: "restarts will not drain the old generation first" });
    return [first];
  }
}
