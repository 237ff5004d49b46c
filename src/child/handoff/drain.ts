// The drain before a restart: new connections already go to the other socket of each pair; the
// old generation accepts what is queued on its own socket and reads what it accepted, and only
// then is it signalled. Without this, a server that accepted a connection in the same instant it
// began to shut down closes it unread (uvicorn does), and the client sees a reset.
import type { Logger } from "pino";
import type { Sockets } from "../../sys/sockets.js";
import { unreadConnections } from "../../sys/proc-net.js";
import type { PairListener, Slot } from "./held-sockets.js";
import { other, type Steering } from "./steering.js";

/** How often a drain looks at the old sockets' accept queues. */
const DRAIN_POLL_MS = 5;
/** A drain gives up when the old generation has accepted nothing for this long: it hangs, or is
 *  still booting, or every worker is busy. New connections then go back to its socket, for the
 *  next generation to take over with what is queued there; only those that came in this window
 *  wait on the other socket. */
export const DRAIN_STALL_MS = 100;
/** The same bound in a handover (--overlap): the next generation already serves every new
 *  connection, so waiting longer costs no client anything, while giving up resets what is queued
 *  for the old one. 100 ms is a scheduling hiccup on a loaded node, not a hung server. */
export const HANDOVER_STALL_MS = 1000;
/** Once nothing is queued for the old generation, how long the drain waits for it to read the
 *  connections it accepted. A server that works reads one within milliseconds of accepting it;
 *  one that has not after this is busy or hung, and the restart goes on. */
export const UNREAD_WAIT_MS = 500;

/** How a drain ended: after `ms`, with `left` connections the old generation did not accept,
 *  and `unread` it accepted but had not read when the drain stopped waiting. */
export interface DrainResult {
  ms: number;
  left: number;
  unread: number;
}

/** What the drain has seen so far. `progressAt` is when the queued count last went down. */
export type DrainWatch =
  /** Connections queued for the old generation at the last look (`last`; Infinity before the first). */
  | { kind: "queued"; last: number; progressAt: number }
  /** Seen empty once: a handshake under way when the steering changed still lands on the old
   *  socket, one round trip later. */
  | { kind: "empty"; progressAt: number }
  /** Seen empty twice in a row since `emptyAt`: waiting for the old generation to read what it accepted. */
  | { kind: "unread"; progressAt: number; emptyAt: number }
  /** Over: `left` not accepted, `unread` accepted and not read. */
  | { kind: "done"; left: number; unread: number };

/** The drain's first state, at `t`. */
export function drainStarts(t: number): DrainWatch {
  return { kind: "queued", last: Infinity, progressAt: t };
}

/** One look at time `t`, `left` connections queued on the old sockets; `unread()` asks /proc how
 *  many the old generation accepted and has not read; `stallMs`: how long without an accept ends it. */
export function drainLook(
  w: Exclude<DrainWatch, { kind: "done" }>, left: number, t: number, unread: () => number, stallMs = DRAIN_STALL_MS,
): DrainWatch {
  const progressAt = left < (w.kind === "queued" ? w.last : 0) ? t : w.progressAt;
  if (left > 0) return t - progressAt >= stallMs ? { kind: "done", left, unread: 0 } : { kind: "queued", last: left, progressAt };
  if (w.kind === "queued") return { kind: "empty", progressAt };
  const emptyAt = w.kind === "unread" ? w.emptyAt : t;
  const n = unread();
  return n === 0 || t - emptyAt >= UNREAD_WAIT_MS ? { kind: "done", left: 0, unread: n } : { kind: "unread", progressAt, emptyAt };
}

/** What a drain works with. */
export interface DrainDeps {
  sockets: Sockets;
  steering: Steering;
  log: Logger;
}

/** Steer every pair's new connections away from the old generation's socket and report once the
 *  drain is over (`members`: the old generation's processes, looked up on each look). If it stalls,
 *  what it left goes back to its sockets, or in a handover (--overlap: the next generation
 *  already serves) is flushed. Returns a canceller. */
export function startDrain(
  deps: DrainDeps, draining: readonly PairListener[], done: (result: DrainResult) => void, handover: boolean, members: () => number[],
): () => void {
  const { sockets, steering, log } = deps;
  const started = performance.now();
  const old: { l: PairListener; slot: Slot }[] = draining.map((l) => ({ l, slot: l.held.slot }));
  const ports = old.map(({ l }) => l.address.kind === "tcp" ? l.address.port : 0);
  for (const { l, slot } of old) steering.steer(l, other(slot));
  // A throw in a timer of PID 1 would end pidone: if /proc cannot say, nothing counts as unread
  // and the drain ends on empty accept queues alone.
  const unread = (): number => {
    try {
      return unreadConnections(members(), ports);
    } catch (err) {
      log.debug({ event: "unread-unknown", error: (err as Error).message });
      return 0;
    }
  };
  let watch = drainStarts(started);
  const look = () => {
    if (watch.kind === "done") return;
    const t = performance.now();
    watch = drainLook(watch, old.reduce((n, { l, slot }) => n + sockets.queued(l.held.kind === "pair" ? l.held.fds[slot] : -1), 0), t, unread, handover ? HANDOVER_STALL_MS : DRAIN_STALL_MS);
    if (watch.kind !== "done") return;
    clearInterval(timer);
    const { left } = watch;
    if (left > 0) for (const { l, slot } of old) {
      if (l.held.kind !== "pair") continue;
      if (!handover) steering.steer(l, slot);
      else {
        const n = sockets.queued(l.held.fds[slot]);
        if (n > 0) steering.flush(l, slot, n);
      }
    }
    done({ ms: Math.round((t - started) * 100) / 100, left, unread: watch.unread });
  };
  const timer = setInterval(look, DRAIN_POLL_MS);
  look();
  return () => clearInterval(timer);
}
