// Socket addresses for --listen, --health and --ready-tcp: parsed here, purely (no lookups, no
// I/O), so that a bad address is a one-line ConfigError before anything is bound or spawned.
// The address type and what is known of one live in src/listen-addr.ts.
import path from "node:path";
import { ConfigError } from "../errors.js";
import { net } from "../lazy-net.js";
import type { ListenAddress } from "../listen-addr.js";

/** The parsed address, for readers at the edge (its room is src/listen-addr.ts). */
export type { ListenAddress } from "../listen-addr.js";
/** Why a bind failed, worded for an option (its room is src/listen-addr.ts). */
export { describeBindError } from "../listen-addr.js";

/** Longest path a sockaddr_un holds (108 bytes with the terminating NUL). */
const UNIX_PATH_MAX = 107;

/** Why `file` cannot name a unix socket: longer than a sockaddr_un holds, so the kernel would be
 *  handed a cut path (a socket somewhere else, or none). Null if it fits. */
export function socketPathProblem(file: string): string | null {
  return Buffer.byteLength(file) > UNIX_PATH_MAX ? `socket path is longer than ${UNIX_PATH_MAX} bytes` : null;
}

/** The control socket named by `from` (a flag or variable) must fit a sockaddr_un: for pidone
 *  (config.ts) and for its clients (controlSocketPath in control-socket-path.ts) alike. */
export function checkControlSocketPath(file: string, from: string): void {
  if (socketPathProblem(file) !== null) throw new ConfigError(`${from}: socket path ${file} is longer than ${UNIX_PATH_MAX} bytes`);
}

const FORMS = "use tcp://HOST:PORT, HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH";

/** Parse `tcp://HOST:PORT`, `HOST:PORT`, `[::]:PORT`, `:PORT`, `PORT` or `unix:PATH`.
 *  HOST is an IP literal, `localhost` (127.0.0.1), or `*` / empty (all IPv4 interfaces); other
 *  host names are refused rather than resolved: pidone binds before anything else runs, with
 *  no resolver it could trust to answer quickly. `option` names the flag or variable for errors. */
export function parseListenAddress(text: string, option: string, cwd: string, defaultHost = "0.0.0.0"): ListenAddress {
  const raw = text.trim();
  const bad = (why: string): never => {
    throw new ConfigError(`${option}: invalid address '${text}': ${why} (${FORMS})`);
  };
  if (raw === "") bad("empty");
  if (raw.startsWith("unix:")) {
    const p = raw.slice("unix:".length).replace(/^\/\/(?=\/)/, "");
    if (p === "") bad("no path after unix:");
    if (p.includes("\0")) bad("NUL byte in path");
    const abs = path.resolve(cwd, p);
    const tooLong = socketPathProblem(abs);
    if (tooLong !== null) bad(tooLong);
    return { kind: "unix", path: abs, text: `unix:${abs}` };
  }
  let rest = raw;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(rest);
  if (scheme) {
    if (scheme[1]?.toLowerCase() !== "tcp") bad(`unsupported scheme '${scheme[1]}://'`);
    rest = rest.slice(scheme[0].length);
  }
  let host: string;
  let portText: string;
  if (rest.startsWith("[")) {
    const m = /^\[([^\]]*)\]:(.*)$/.exec(rest);
    if (!m) bad("an IPv6 address in brackets must be followed by :PORT");
    host = (m as RegExpExecArray)[1] as string;
    portText = (m as RegExpExecArray)[2] as string;
    if (!net().isIPv6(host)) bad(`'${host}' is not an IPv6 address`);
  } else if (/^\d+$/.test(rest)) {
    host = defaultHost;
    portText = rest;
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon < 0) bad("no port");
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(":")) bad("put an IPv6 address in brackets, e.g. [::]:8000");
    if (host === "" || host === "*") host = defaultHost;
    else if (host.toLowerCase() === "localhost") host = "127.0.0.1";
    else if (!net().isIPv4(host)) bad(`'${host}' is not an IP address; give an IP literal (host names other than localhost are not resolved)`);
  }
  if (!/^\d+$/.test(portText)) bad(`port '${portText}' is not a number`);
  const port = Number(portText);
  if (port < 1 || port > 65535) bad(`port ${port} is out of range (1-65535)`);
  const family = net().isIPv6(host) ? 6 : 4;
  return { kind: "tcp", family, host, port, text: family === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}
