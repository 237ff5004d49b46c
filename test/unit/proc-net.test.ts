// Unread connections from /proc/net/tcp: the drain's view of what a generation accepted but has
// not read.
import { describe, expect, it } from "vitest";
import net from "node:net";
import { countUnread, socketInodes, unreadConnections } from "../../src/sys/proc-net.js";

const HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
/** A /proc/net/tcp line: local port, state, rx queue, inode. */
const line = (sl: number, port: number, st: string, rx: number, inode: number) =>
  `  ${sl}: 0100007F:${port.toString(16).toUpperCase().padStart(4, "0")} 0100007F:D2F0 ${st} 00000000:${rx.toString(16).toUpperCase().padStart(8, "0")} 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 20 4 30 10 -1\n`;

describe("countUnread", () => {
  const table = HEADER
    + line(0, 8000, "0A", 0, 100) // the listener itself
    + line(1, 8000, "01", 78, 101) // accepted, request unread: counts
    + line(2, 8000, "01", 0, 102) // accepted and read
    + line(3, 8000, "01", 78, 103) // unread, but another process's (queued, or the next generation's)
    + line(4, 8001, "01", 78, 104) // another port
    + line(5, 8000, "06", 0, 0) // TIME_WAIT
    + line(6, 8000, "01", 1, 105); // one byte unread: counts
  it.each([
    ["only the generation's own sockets with bytes unread", new Set([100, 101, 102, 104, 105]), 2],
    ["none of its sockets", new Set([999]), 0],
    ["every socket", new Set([100, 101, 102, 103, 104, 105]), 3],
  ])("%s", (_what, inodes, n) => {
    expect(countUnread(table, 8000, inodes)).toBe(n);
  });

  it("ignores the header, blank and short lines", () => {
    expect(countUnread(`${HEADER}\n  garbage\n`, 8000, new Set([1]))).toBe(0);
  });
});

describe("unreadConnections on live sockets", () => {
  it("counts a connection this process accepted and has not read, until it reads it", async () => {
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
    const client = net.connect(port, "127.0.0.1", () => client.write("GET / HTTP/1.0\r\n\r\n"));
    try {
      const conn = await accepted;
      expect(socketInodes(process.pid).size).toBeGreaterThan(0);
      // The request reaches the server's receive queue a moment after the connect.
      const deadline = Date.now() + 5000;
      while (unreadConnections([process.pid], [port]) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(unreadConnections([process.pid], [port])).toBe(1);
      expect(unreadConnections([process.pid], [port + 1])).toBe(0);
      expect(unreadConnections([2 ** 22 + 1], [port])).toBe(0); // no such process
      const read = new Promise((r) => conn.once("data", r));
      conn.resume();
      await read;
      expect(unreadConnections([process.pid], [port])).toBe(0);
    } finally {
      client.destroy();
      server.close();
    }
  });
});
