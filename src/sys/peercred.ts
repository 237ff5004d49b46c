// SO_PEERCRED: who is at the other end of a unix socket, as the kernel recorded it at connect()
// (it cannot be forged by the peer). Node does not expose it; koffi does the getsockopt.
import { loadKoffi } from "./libc.js";

/** The peer's credentials (struct ucred). */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** Reads a connected unix socket's peer credentials; null if the kernel refuses. */
export type ReadPeerCred = (fd: number) => PeerCred | null;

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

/** Load getsockopt through koffi. Throws if koffi or the symbol is missing. */
export function loadPeerCred(): ReadPeerCred {
  const koffi = loadKoffi();
  const lib = koffi.load(null as unknown as string);
  const getsockopt = lib.func("int getsockopt(int fd, int level, int name, _Out_ void *value, _Inout_ uint32_t *len)");
  const buf = Buffer.alloc(12); // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
  return (fd) => {
    const len = [buf.length];
    if ((getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf, len) as number) !== 0 || len[0] !== 12) return null;
    return { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) };
  };
}
