// Pipes for the app's stdout and stderr (src/output/capture.ts): Node has no pipe(2) (its child
// stdio "pipes" are socketpairs, which an app cannot open again as /dev/stdout), so pipe2 and
// fcntl come through koffi (src/sys/libc.ts loads it).
import { loadKoffi } from "./libc.js";

/** The pipe syscalls capture needs. Calls return a negative errno instead of throwing. */
export interface PipeSys {
  /** pipe2(O_CLOEXEC): [read end, write end], or -errno. */
  pipe(): [number, number] | number;
  /** fcntl(F_SETPIPE_SZ): the pipe's new capacity in bytes, or -errno (EPERM past
   *  /proc/sys/fs/pipe-max-size for an unprivileged user). */
  setPipeSize(fd: number, bytes: number): number;
  /** write(2) of `buf` whole: the bytes written, or -errno (EAGAIN on a full non-blocking pipe). */
  write(fd: number, buf: Uint8Array): number;
}

const O_CLOEXEC = 0o2000000;
const F_SETPIPE_SZ = 1031;

/** Load pipe2 and fcntl. Throws if koffi or a symbol is missing. */
export function loadPipes(): PipeSys {
  const koffi = loadKoffi();
  const lib = koffi.load(null as unknown as string);
  const pipe2 = lib.func("int pipe2(_Out_ int *fds, int flags)");
  const fcntl = lib.func("int fcntl(int fd, int cmd, ...)");
  const write = lib.func("long write(int fd, const void *buf, size_t count)");
  const fds = Buffer.alloc(8);
  const fail = (): number => -(koffi.errno() as number);
  return {
    pipe: () => ((pipe2(fds, O_CLOEXEC) as number) === 0 ? [fds.readInt32LE(0), fds.readInt32LE(4)] : fail()),
    setPipeSize: (fd, bytes) => {
      const r = fcntl(fd, F_SETPIPE_SZ, "int", bytes) as number;
      return r >= 0 ? r : fail();
    },
    write: (fd, buf) => {
      const r = Number(write(fd, buf, buf.length));
      return r >= 0 ? r : fail();
    },
  };
}
