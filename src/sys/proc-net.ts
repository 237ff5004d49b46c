// Connections a generation accepted and has not read yet, from /proc: the part of a drain that
// the listening socket cannot show. An empty accept queue means the old generation took every
// connection; it does not mean it read them. uvicorn (and any asyncio server) closes at shutdown
// every connection with no request under way, unread request included, and the client gets a
// reset: seen as a burst of ECONNRESET at a restart, about once in 5,000 requests under load.
import { readFileSync, readdirSync, readlinkSync } from "node:fs";

const TCP_ESTABLISHED = "01";

/** Inodes of the sockets `pid` holds open (its fds that read `socket:[N]`). */
export function socketInodes(pid: number, into = new Set<number>()): Set<number> {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return into; // gone, or not ours to look at
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    if (target.startsWith("socket:[")) into.add(Number(target.slice(8, -1)));
  }
  return into;
}

/** How many established connections to local `port` in a /proc/net/tcp or tcp6 table belong to
 *  `inodes` and have bytes in their receive queue. A line: `sl local rem st tx:rx tr:when
 *  retrnsmt uid timeout inode ...`, addresses as hex `ADDR:PORT`. */
export function countUnread(table: string, port: number, inodes: ReadonlySet<number>): number {
  let n = 0;
  for (const line of table.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== TCP_ESTABLISHED) continue;
    const local = f[1] as string;
    if (Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16) !== port) continue;
    const queues = f[4] as string;
    if (Number.parseInt(queues.slice(queues.indexOf(":") + 1), 16) === 0) continue;
    if (inodes.has(Number(f[9]))) n++;
  }
  return n;
}

/** Connections to `ports` that the processes `pids` accepted and have not read from yet. */
export function unreadConnections(pids: readonly number[], ports: readonly number[]): number {
  const inodes = new Set<number>();
  for (const pid of pids) socketInodes(pid, inodes);
  if (inodes.size === 0) return 0;
  let n = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let table: string;
    try {
      table = readFileSync(file, "utf8");
    } catch {
      continue; // no IPv6, or no /proc/net
    }
    for (const port of ports) n += countUnread(table, port, inodes);
  }
  return n;
}
