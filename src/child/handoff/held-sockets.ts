// The --listen sockets pidone holds for the app: opened once at startup, kept open across
// generations so that new connections wait in the kernel's backlog. A TCP address gets two
// sockets in one SO_REUSEPORT group, used by generations in turn (steering.ts); a unix one, or a
// TCP one where the kernel cannot steer, one socket every generation shares.
import { unlinkSync } from "node:fs";
import type { Logger } from "pino";
import { BindError, ConfigError } from "../../errors.js";
import { describeBindError, type ListenAddress } from "../../listen-addr.js";
import type { Sockets } from "../../sys/sockets.js";

/** Generous: a burst of connections during a restart must wait, not be dropped. The kernel caps
 *  it at net.core.somaxconn (4096 by default since Linux 5.4). */
export const BACKLOG = 1024;

/** One of the two sockets of a pair. */
export type Slot = 0 | 1;

/** What is held for one address. */
export type Held =
  /** One socket every generation shares: a unix address, or TCP where steering is unavailable. */
  | { kind: "shared"; fd: number }
  /** Two sockets in one SO_REUSEPORT group; `slot` is the one the kernel sends new connections
   *  to. `order` lists the slots in the order of the kernel's group array, which the BPF program
   *  indexes: a socket joins at the end, and one that leaves is replaced by the last. */
  | { kind: "pair"; fds: readonly [number, number]; slot: Slot; order: readonly Slot[] };

/** One --listen address and what is held for it (steering.ts changes `held`). */
export interface Listener {
  readonly address: ListenAddress;
  held: Held;
}

/** A listener whose address has two steerable sockets. */
export type PairListener = Listener & { held: Extract<Held, { kind: "pair" }> };

/** The listeners that have two sockets, as they are now. */
export function pairs(listeners: readonly Listener[]): PairListener[] {
  return listeners.filter((l): l is PairListener => l.held.kind === "pair");
}

/** Every descriptor held for `l`. */
export function heldFds(l: Listener): readonly number[] {
  return l.held.kind === "pair" ? l.held.fds : [l.held.fd];
}

/** Open a socket (or a pair) for each address, or close what was opened and throw a ConfigError
 *  naming the one that failed. Logs `listening` for each. */
export function openListeners(sockets: Sockets, addresses: readonly ListenAddress[], log: Logger): Listener[] {
  const listeners: Listener[] = [];
  for (const address of addresses) {
    try {
      listeners.push({ address, held: address.kind === "tcp" ? openPair(sockets, address, log) : { kind: "shared", fd: sockets.listen(address, BACKLOG) } });
    } catch (err) {
      for (const fd of listeners.flatMap(heldFds)) sockets.close(fd);
      if (err instanceof BindError) throw new ConfigError(describeBindError(err.code, address, "--listen"));
      throw err;
    }
  }
  addresses.forEach((a, i) => log.info({ event: "listening", fd: 3 + i, address: a.text }));
  return listeners;
}

/** At exit: remove the unix socket files. */
export function removeUnixFiles(addresses: readonly ListenAddress[]): void {
  for (const a of addresses) {
    if (a.kind !== "unix") continue;
    try {
      unlinkSync(a.path);
    } catch {
      // already gone
    }
  }
}

/** Two listening sockets for `a` in one SO_REUSEPORT group, new connections steered to the
 *  first. Where the kernel cannot steer (before Linux 4.5), one socket that every generation
 *  shares. */
function openPair(sockets: Sockets, a: ListenAddress, log: Logger): Held {
  // SO_REUSEPORT would silently join a group another process of the same user listens in;
  // a plain bind first fails if anything at all listens there.
  sockets.probe(a);
  const first = sockets.listen(a, BACKLOG, true);
  let second = -1;
  try {
    second = sockets.listen(a, BACKLOG, true);
    sockets.steer(first, 0);
    return { kind: "pair", fds: [first, second], slot: 0, order: [0, 1] };
  } catch (err) {
    if (second >= 0) sockets.close(second);
    log.warn({ event: "drain-unavailable", address: a.text, error: (err as Error).message, note: "restarts will not drain the old generation first" });
    return { kind: "shared", fd: first };
  }
}
