// Which socket of a pair the kernel sends new connections to: a one-instruction classic BPF
// program on the SO_REUSEPORT group. A restart steers new connections to the other socket, where
// they wait for the next generation; connections queued where no generation will accept them are
// flushed off the socket.
import type { Logger } from "pino";
import type { Sockets } from "../../sys/sockets.js";
import { BACKLOG, type Listener, type PairListener, type Slot, pairs } from "./held-sockets.js";

/** The other socket of a pair. */
export function other(slot: Slot): Slot {
  return slot === 0 ? 1 : 0;
}

/** Steering and flushing the pairs, logging what goes wrong. */
export class Steering {
  constructor(private readonly sockets: Sockets, private readonly log: Logger) {}

  /** Send new connections for `l` to socket `slot`. */
  steer(l: PairListener, slot: Slot): void {
    try {
      this.sockets.steer(l.held.fds[slot], l.held.order.indexOf(slot));
      l.held = { ...l.held, slot };
    } catch (err) {
      // It worked at startup; if it stops working, keep handing over the socket still steered to.
      this.log.error({ event: "steer-failed", address: l.address.text, error: (err as Error).message });
    }
  }

  /** Before a spawn while no generation runs: connections queued on a socket the next one will
   *  not get would wait forever (the last generation stopped accepting before taking them: it
   *  hung, or exited during its drain). Hand over the socket where clients wait; flush the other. */
  settle(listeners: readonly Listener[]): void {
    for (const l of pairs(listeners)) {
      const { fds, slot } = l.held;
      const [mine, theirs] = [this.sockets.queued(fds[slot]), this.sockets.queued(fds[other(slot)])];
      // Keep the longer queue; the shorter one cannot be served by anyone.
      if (theirs > mine) this.steer(l, other(slot));
      const stranded = Math.min(mine, theirs);
      if (stranded > 0) this.flush(l, other(l.held.slot), stranded);
    }
  }

  /** Take the `count` connections queued on socket `slot` off it without accepting them: leave
   *  the group and listen again. The kernel resets them, or where net.ipv4.tcp_migrate_req=1
   *  moves them to the other socket, whose generation then serves them. */
  flush(l: PairListener, slot: Slot, count: number): void {
    const fd = l.held.fds[slot];
    const otherFd = l.held.fds[other(slot)];
    const before = this.sockets.queued(otherFd);
    if (!this.sockets.unlisten(fd)) {
      this.log.error({ event: "flush-failed", address: l.address.text, count });
      return;
    }
    // Alone in the group now: point the program at the other socket before this one rejoins.
    l.held = { ...l.held, order: [other(slot)] };
    this.steer(l, other(slot));
    const migrated = Math.max(0, Math.min(count, this.sockets.queued(otherFd) - before));
    const why = { address: l.address.text, reason: "queued for a generation that stopped accepting" };
    if (migrated < count) this.log.warn({ event: "connections-reset", count: count - migrated, migrated, ...why });
    else this.log.info({ event: "connections-migrated", count, ...why });
    if (this.sockets.relisten(fd, BACKLOG)) {
      l.held = { ...l.held, order: [other(slot), slot] };
      return;
    }
    // Cannot happen short of a kernel change; carry on with one socket shared by all generations.
    this.log.error({ event: "drain-unavailable", address: l.address.text, note: "listen() failed after a flush; restarts will not drain first" });
    this.sockets.close(fd);
    (l as Listener).held = { kind: "shared", fd: otherFd };
  }
}
