// Listening sockets made with raw syscalls, through koffi.
// Not net.Server: libuv would put the socket in its poll loop and start accepting connections,
// and pidone must only hold the socket so that connections wait in the kernel's backlog while
// one app generation replaces the next.
import { constants as osc } from "node:os";
import { lstatSync, unlinkSync } from "node:fs";
import type { ListenAddress, UnixAddress } from "../listen-addr.js";
import { BindError } from "../errors.js";
import { loadKoffi } from "./libc.js";


/** The socket and exec syscalls pidone needs. */
export interface Sockets {
  /** socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen; returns the fd (close-on-exec in
   *  pidone itself). */
  listen(address: ListenAddress, backlog: number, reusePort?: boolean): number;
  /** Bind a TCP address without SO_REUSEPORT, then close: throws EADDRINUSE if anything listens
   *  there, including a SO_REUSEPORT socket of the same user that listen(a, n, true) would join. */
  probe(address: ListenAddress): void;
  /** Attach to fd's SO_REUSEPORT group a classic BPF program that sends every new connection to
   *  the group's `index`-th socket (sockets are numbered in the order they started listening). */
  steer(fd: number, index: number): void;
  /** Like steer, except that connections from local TCP port `probePort` go to the group's
   *  `probeIndex`-th socket: pidone's readiness probe reaches the next generation (--overlap)
   *  while every client still reaches the current one. */
  steerProbe(fd: number, index: number, probeIndex: number, probePort: number): void;
  /** A unix datagram socket bound to the abstract name `name` (no file), for sd_notify. */
  notifySocket(name: string): number;
  /** The next datagram waiting on `fd`, or null if none (never blocks). */
  receive(fd: number): string | null;
  /** Connections in a TCP listener's accept queue: handshake done, not yet accepted (0 if it
   *  cannot be read). */
  queued(fd: number): number;
  /** shutdown(SHUT_RD) on a TCP listener: it stops listening and leaves its SO_REUSEPORT group;
   *  the kernel resets the connections queued on it, or moves them to another socket of the
   *  group where net.ipv4.tcp_migrate_req=1. The port stays bound. Returns false on failure. */
  unlisten(fd: number): boolean;
  /** listen() again after unlisten(): the socket joins its group again, at the end. */
  relisten(fd: number, backlog: number): boolean;
  close(fd: number): void;
}

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_REUSEPORT = 15;
const SO_ATTACH_REUSEPORT_CBPF = 51;
const IPPROTO_TCP = 6;
const TCP_INFO = 11;
const TCP_LISTEN = 10;
const BPF_RET_K = 0x06;
const SHUT_RD = 0;
const SOCK_DGRAM = 2;
const MSG_DONTWAIT = 0x40;
/** Classic BPF: loads at SKF_NET_OFF + k read the packet from its network (IP) header. */
const SKF_NET_OFF = 0xfff00000;
const BPF = { LDB_ABS: 0x30, LDH_ABS: 0x28, LDH_IND: 0x48, LDXB_MSH: 0xb1, RSH_K: 0x74, JEQ_K: 0x15, JA: 0x05, RET_K: 0x06 };
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;

export const ERRNO_NAMES = new Map(Object.entries(osc.errno).map(([name, n]) => [n, name]));

/** Build the sockaddr for `a` by hand (Linux layouts; the family is in host byte order). */
export function sockaddr(a: ListenAddress): Buffer {
  if (a.kind === "unix") {
    const b = Buffer.alloc(110); // sa_family_t + char sun_path[108]
    b.writeUInt16LE(AF_UNIX, 0);
    b.write(a.path, 2, "utf8"); // NUL-terminated: the buffer is zeroed and the path <= 107 bytes
    return b;
  }
  if (a.family === 4) {
    const b = Buffer.alloc(16); // family, port (network order), in_addr, 8 bytes of zero
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(a.port, 2);
    a.host.split(".").forEach((octet, i) => b.writeUInt8(Number(octet), 4 + i));
    return b;
  }
  const b = Buffer.alloc(28); // family, port, flowinfo, in6_addr, scope_id
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(a.port, 2);
  ipv6Bytes(a.host).copy(b, 8);
  return b;
}

/** The 16 bytes of an IPv6 literal (already validated), `::` and embedded IPv4 included. */
function ipv6Bytes(host: string): Buffer {
  let text = host;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") as [string, string] : [text, null];
  const parts = (s: string) => (s === "" ? [] : s.split(":").map((h) => parseInt(h, 16)));
  const h = parts(head);
  const t = tail === null ? [] : parts(tail);
  const groups = tail === null ? h : [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** Load the syscalls. Throws if koffi or a symbol is missing. */
export function loadSockets(): Sockets {
  const koffi = loadKoffi();
  const lib = koffi.load(null as unknown as string);
  const socket = lib.func("int socket(int domain, int type, int protocol)");
  const setsockopt = lib.func("int setsockopt(int fd, int level, int name, const void *value, uint32_t len)");
  const bind = lib.func("int bind(int fd, const void *addr, uint32_t len)");
  const connect = lib.func("int connect(int fd, const void *addr, uint32_t len)");
  const listen = lib.func("int listen(int fd, int backlog)");
  const close = lib.func("int close(int fd)");
  const getsockopt = lib.func("int getsockopt(int fd, int level, int name, _Out_ void *value, _Inout_ uint32_t *len)");
  const shutdown = lib.func("int shutdown(int fd, int how)");
  const recv = lib.func("long recv(int fd, _Out_ void *buf, unsigned long len, int flags)");
  const SockFilter = koffi.struct({ code: "uint16", jt: "uint8", jf: "uint8", k: "uint32" });
  const SockFprog = koffi.struct({ len: "uint16", filter: koffi.pointer(SockFilter) });
  const setFprog = lib.func("setsockopt", "int", ["int", "int", "int", koffi.pointer(SockFprog), "uint32"]);
  // koffi reads errno right after the call, before any other libc call can overwrite it.
  const errno = () => ERRNO_NAMES.get(koffi.errno()) ?? `errno ${koffi.errno()}`;
  const check = (rc: number, syscall: string, fd = -1): number => {
    if (rc >= 0) return rc;
    const code = errno();
    if (fd >= 0) close(fd);
    throw new BindError(code, syscall);
  };
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);

  /** A bound socket; listening unless `backlog` is null. */
  const open = (a: ListenAddress, backlog: number | null, reusePort = false): number => {
    const domain = a.kind === "unix" ? AF_UNIX : a.family === 4 ? AF_INET : AF_INET6;
    // CLOEXEC: pidone's other children (none today) must not inherit it; the app gets it through
    // spawn's stdio array, whose dup2 into 3, 4, ... clears the flag in the child only.
    const fd = check(socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0) as number, "socket");
    const addr = sockaddr(a);
    if (a.kind === "tcp") {
      // REUSEADDR: a pidone restarted right after the last one can bind despite TIME_WAIT.
      check(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4) as number, "setsockopt", fd);
      if (reusePort) check(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, one, 4) as number, "setsockopt", fd);
      // [::] means every interface, IPv4 too, whatever net.ipv6.bindv6only says.
      if (a.family === 6 && a.host === "::") check(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, Buffer.alloc(4), 4) as number, "setsockopt", fd);
    }
    check(bind(fd, addr, addr.length) as number, "bind", fd);
    if (backlog !== null) check(listen(fd, backlog) as number, "listen", fd);
    return fd;
  };

  return {
    listen(a, backlog, reusePort = false) {
      try {
        return open(a, backlog, reusePort);
      } catch (err) {
        // A unix socket file left by a pidone that was killed: remove it if nobody answers on it.
        if (!(err instanceof BindError) || err.code !== "EADDRINUSE" || a.kind !== "unix" || !staleUnixSocket(a)) throw err;
        unlinkSync(a.path);
        return open(a, backlog);
      }
    },
    probe(a) {
      close(open(a, null));
    },
    steer(fd, index) {
      // One instruction, "return index". The program belongs to the group, not to `fd`; an index
      // past the group's end makes the kernel fall back to its hash.
      const prog = { len: 1, filter: [{ code: BPF_RET_K, jt: 0, jf: 0, k: index }] };
      check(setFprog(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, prog, 16) as number, "setsockopt(SO_ATTACH_REUSEPORT_CBPF)");
    },
    steerProbe(fd, index, probeIndex, probePort) {
      // A reuseport program sees the SYN with its data pointer past the TCP header, so the
      // source port is read from the network header: IPv4 (header length from IHL) or IPv6
      // (fixed 40 bytes; a SYN from pidone carries no extension headers).
      const filter = [
        { code: BPF.LDB_ABS, jt: 0, jf: 0, k: SKF_NET_OFF }, // A = first byte of the IP header
        { code: BPF.RSH_K, jt: 0, jf: 0, k: 4 }, // A = IP version
        { code: BPF.JEQ_K, jt: 0, jf: 3, k: 4 },
        { code: BPF.LDXB_MSH, jt: 0, jf: 0, k: SKF_NET_OFF }, // X = IPv4 header length
        { code: BPF.LDH_IND, jt: 0, jf: 0, k: SKF_NET_OFF }, // A = TCP source port
        { code: BPF.JA, jt: 0, jf: 0, k: 1 },
        { code: BPF.LDH_ABS, jt: 0, jf: 0, k: (SKF_NET_OFF + 40) >>> 0 }, // A = TCP source port (IPv6)
        { code: BPF.JEQ_K, jt: 0, jf: 1, k: probePort },
        { code: BPF.RET_K, jt: 0, jf: 0, k: probeIndex },
        { code: BPF.RET_K, jt: 0, jf: 0, k: index },
      ];
      check(setFprog(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, { len: filter.length, filter }, 16) as number, "setsockopt(SO_ATTACH_REUSEPORT_CBPF)");
    },
    notifySocket(name) {
      const fd = check(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) as number, "socket");
      // sockaddr_un with sun_path[0] = NUL: the abstract namespace, nothing on disk to clean up.
      const addr = Buffer.alloc(2 + 1 + Buffer.byteLength(name));
      addr.writeUInt16LE(AF_UNIX, 0);
      addr.write(name, 3, "utf8");
      check(bind(fd, addr, addr.length) as number, "bind", fd);
      return fd;
    },
    receive(fd) {
      const buf = Buffer.alloc(4096);
      const n = recv(fd, buf, buf.length, MSG_DONTWAIT) as number;
      return n < 0 ? null : buf.toString("utf8", 0, n);
    },
    queued(fd) {
      // struct tcp_info: for a listener, tcpi_unacked (offset 24) is the accept queue's length.
      const info = Buffer.alloc(104);
      if ((getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, [info.length]) as number) < 0) return 0;
      return info.readUInt8(0) === TCP_LISTEN ? info.readUInt32LE(24) : 0;
    },
    unlisten: (fd) => (shutdown(fd, SHUT_RD) as number) === 0,
    relisten: (fd, backlog) => (listen(fd, backlog) as number) === 0,
    close: (fd) => void close(fd),
  };

  function staleUnixSocket(a: UnixAddress): boolean {
    try {
      if (!lstatSync(a.path).isSocket()) return false;
    } catch {
      return false;
    }
    const fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) as number;
    if (fd < 0) return false;
    const addr = sockaddr(a);
    const rc = connect(fd, addr, addr.length) as number;
    const refused = rc < 0 && errno() === "ECONNREFUSED";
    close(fd);
    return refused;
  }
}
