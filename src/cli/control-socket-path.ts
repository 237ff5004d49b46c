// Where the control socket lives when nobody says: in a directory only pidone's user can use, so
// the socket's own mode is not the only thing between another user and `pidone restart`. One pure
// function, shared by pidone (which then creates the directory, src/control/server.ts) and by
// `pidone restart`/`status`/`sync` (which must find the same path).
import { accessSync, constants as fsc, lstatSync } from "node:fs";
import path from "node:path";
import { checkControlSocketPath } from "./listen-address.js";

/** The little of the file system the choice looks at (a fake one in unit tests). */
export interface DirProbe {
  /** `dir` is a real directory (lstat: not a symlink), owned by `uid`, without group/other bits. */
  privateDir(dir: string, uid: number): boolean;
  /** This process may create entries in `dir`. */
  writable(dir: string): boolean;
}

/** The default control socket: $XDG_RUNTIME_DIR/pidone.sock when that is a private directory of
 *  ours, else /run/pidone/pidone.sock when /run is writable, else /tmp/pidone-<uid>/pidone.sock. */
export function defaultControlSocket(env: NodeJS.ProcessEnv, uid: number, probe: DirProbe): string {
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg && path.isAbsolute(xdg) && probe.privateDir(xdg, uid)) return path.join(xdg, "pidone.sock");
  if (probe.writable("/run")) return "/run/pidone/pidone.sock";
  return `/tmp/pidone-${uid}/pidone.sock`;
}

/** The real file system, read only. */
export const fsProbe: DirProbe = {
  privateDir(dir, uid) {
    try {
      const st = lstatSync(dir);
      return st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0;
    } catch {
      return false;
    }
  },
  writable(dir) {
    try {
      accessSync(dir, fsc.W_OK | fsc.X_OK);
      return true;
    } catch {
      return false;
    }
  },
};

/** The control socket a client talks to (`pidone restart`/`status`, `pidone receive`): `explicit`
 *  (--socket), else PIDONE_CONTROL_SOCKET, else the default pidone computes for itself (same
 *  user, same environment: same path). Throws ConfigError if it does not fit a sockaddr_un. */
export function controlSocketPath(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const socket = explicit ?? env.PIDONE_CONTROL_SOCKET ?? defaultControlSocket(env, currentUid(), fsProbe);
  // As for the server (config.ts): past sockaddr_un's limit the connect would go to a cut path.
  checkControlSocketPath(socket, explicit !== undefined ? "--socket" : env.PIDONE_CONTROL_SOCKET !== undefined ? "PIDONE_CONTROL_SOCKET" : "the default control socket");
  return socket;
}

/** This process's uid (0 where the platform has none). */
export function currentUid(): number {
  return typeof process.getuid === "function" ? process.getuid() : 0;
}
