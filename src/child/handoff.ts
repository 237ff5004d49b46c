// Socket handoff (--listen): pidone binds and listens once, at startup, and every app generation
// gets the same sockets as fds 3, 4, ... with the systemd protocol (LISTEN_FDS, LISTEN_FDNAMES,
// LISTEN_PID). Between two generations the sockets stay open in pidone, so new connections wait
// in the kernel's backlog instead of being refused.
//
// The jobs, one file each under handoff/: the sockets held (held-sockets.ts), which of a pair
// gets new connections (steering.ts), the drain before a restart (drain.ts), and for --overlap
// the next generation's readiness (ready-probe.ts, notify-socket.ts). Unix sockets are shared by
// all generations, without a drain.
//
// LISTEN_PID must be the app's own pid, so each generation starts through the exec shim
// (child/exec-shim.ts). Without --listen there is no shim and nothing of this runs.
import type { Logger } from "pino";
import { ConfigError } from "../errors.js";
import { fdName, type ListenAddress } from "../listen-addr.js";
import type { ReadySignal } from "../ready-signal.js";
import { loadSockets, type Sockets } from "../sys/sockets.js";
import { execShim } from "./exec-shim.js";
import type { SpawnVia } from "./spawn.js";
import { heldFds, openListeners, pairs, removeUnixFiles } from "./handoff/held-sockets.js";
import { Steering, other } from "./handoff/steering.js";
import { startDrain, type DrainResult } from "./handoff/drain.js";
import { NotifySocket } from "./handoff/notify-socket.js";
import { awaitReady } from "./handoff/ready-probe.js";

/** How a drain ended (handoff/drain.ts). */
export type { DrainResult } from "./handoff/drain.js";

/** What the handoff is opened with (supervise.ts takes it from the Config). */
export interface HandoffOptions {
  /** The --listen addresses, in the order of the fds the app gets. */
  addresses: readonly ListenAddress[];
  log: Logger;
  /** The environment each generation starts from. */
  env?: NodeJS.ProcessEnv;
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

/** Open every --listen socket, or throw a ConfigError naming the one that failed. Logs
 *  `listening` for each. */
export function openHandoff({ addresses, log, env = process.env }: HandoffOptions): Handoff {
  let sockets: Sockets;
  try {
    sockets = loadSockets();
  } catch (err) {
    throw new ConfigError(`--listen: cannot load the socket syscalls through koffi (${(err as Error).message})`);
  }
  const listeners = openListeners(sockets, addresses, log);
  const steering = new Steering(sockets, log);
  const notify = new NotifySocket(sockets);
  const base = { ...env, LISTEN_FDS: String(listeners.length), LISTEN_FDNAMES: addresses.map(fdName).join(":") };
  const shim = execShim(env);

  return {
    drains: pairs(listeners).length > 0,
    heldFds: listeners.flatMap(heldFds),
    steersAll: listeners.every((l) => l.held.kind === "pair"),
    spawnVia() {
      steering.settle(listeners);
      return { fds: listeners.map((l) => (l.held.kind === "pair" ? l.held.fds[l.held.slot] : l.held.fd)), env: base, shim };
    },
    spawnNextVia(signal) {
      notify.close();
      const env: NodeJS.ProcessEnv = { ...base };
      if (signal.kind === "notify") env.NOTIFY_SOCKET = notify.next();
      return { fds: listeners.map((l) => (l.held.kind === "pair" ? l.held.fds[other(l.held.slot)] : l.held.fd)), env, shim };
    },
    awaitReady(signal, done) {
      const [first] = pairs(listeners);
      if (!first) throw new Error("awaitReady: no steerable --listen socket (--overlap needs one)");
      return awaitReady({ sockets, steering, notify, log, l: first }, signal, done);
    },
    drain(done, handover = false, members = () => []) {
      return startDrain({ sockets, steering, log }, pairs(listeners), done, handover, members);
    },
    close() {
      removeUnixFiles(addresses);
    },
  };
}
