// A socket address pidone listens on or connects to (--listen, --health, --ready-tcp), and the
// pure facts about one: its name for LISTEN_FDNAMES, the host that reaches it from inside the
// container, why binding it failed. Imports nothing of src/, so sys/, child/ and cli/ (whose
// listen-address.ts parses the text) all lean on it.
import path from "node:path";

/** A TCP address. `text` is its canonical form, used in logs and error messages. */
export interface TcpAddress {
  kind: "tcp";
  family: 4 | 6;
  host: string;
  port: number;
  text: string;
}

/** A unix socket, by absolute path. */
export interface UnixAddress {
  kind: "unix";
  path: string;
  text: string;
}

/** A parsed address (cli/listen-address.ts makes them). */
export type ListenAddress = TcpAddress | UnixAddress;

/** The host to connect to for reaching `a` from pidone: a wildcard (0.0.0.0, or :: which also
 *  takes IPv4) is reached on 127.0.0.1, any other host as it is. */
export function loopbackHost(a: TcpAddress): string {
  return a.host === "0.0.0.0" || a.host === "::" ? "127.0.0.1" : a.host;
}

/** Name of a handed-off socket in LISTEN_FDNAMES: systemd separates names with ':', so none may
 *  contain one. `tcp-8000`, `unix-app.sock`. */
export function fdName(a: ListenAddress): string {
  const base = a.kind === "tcp" ? `tcp-${a.port}` : `unix-${path.basename(a.path)}`;
  return base.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 255);
}

/** One line saying why binding `a` failed and what to do, for the errno code `code`. */
export function describeBindError(code: string, a: ListenAddress, option: string): string {
  const where = `${option} ${a.text}`;
  switch (code) {
    case "EADDRINUSE":
      return a.kind === "tcp"
        ? `${where}: address already in use (another process listens on port ${a.port})`
        : `${where}: address already in use (another process listens on ${a.path}, or a non-socket file is there)`;
    case "EACCES":
    case "EPERM":
      return a.kind === "tcp" && a.port < 1024
        ? `${where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE; use a port of 1024 or more)`
        : `${where}: permission denied`;
    case "EADDRNOTAVAIL":
      return `${where}: address not available (no network interface has ${a.kind === "tcp" ? a.host : "it"})`;
    case "EAFNOSUPPORT":
      return `${where}: address family not supported (IPv6 disabled?)`;
    case "ENOENT":
    case "ENOTDIR":
      return `${where}: directory ${a.kind === "unix" ? path.dirname(a.path) : ""} does not exist`;
    case "EROFS":
      return `${where}: read-only file system`;
    case "EINVAL":
      return `${where}: invalid address (EINVAL)`;
    default:
      return `${where}: cannot listen (${code})`;
  }
}
