// Pipes for the app's stdout and stderr (src/output/): Node has no pipe(2) (its child stdio
// "pipes" are socketpairs, which an app cannot open again as /dev/stdout), nor tee(2), splice(2)
// or poll(2); they come through koffi (src/sys/libc.ts loads it).
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
  /** read(2) into `buf`: the bytes read (0 at the end), or -errno. */
  read(fd: number, buf: Uint8Array): number;
  /** Set O_NONBLOCK on the open file behind `fd`: 0 or -errno. */
  setNonBlocking(fd: number): number;
  /** tee(2), non-blocking: copy up to `len` bytes from pipe `from` into pipe `to` without
   *  consuming them. Bytes copied, 0 at the end of `from`, or -errno (EAGAIN: nothing now). */
  tee(from: number, to: number, len: number): number;
  /** splice(2) with SPLICE_F_MOVE | SPLICE_F_NONBLOCK: move up to `len` bytes from pipe `from` to
   *  `to`. Bytes moved, or -errno (EAGAIN: `to` is full; EINVAL: `to` cannot take a splice). */
  splice(from: number, to: number, len: number): number;
  /** poll(2) on the libuv threadpool: `fds` holds struct pollfd entries (8 bytes each); `done`
   *  runs on the main thread once poll returns, with its result or -errno. */
  pollAsync(fds: Buffer, done: (n: number) => void): void;
}

/** struct pollfd's events. */
export const POLL = { in: 0x1, out: 0x4, err: 0x8, hup: 0x10, nval: 0x20 } as const;
/** The errno values the data path tells apart. */
export const ERRNO = { EINTR: 4, EAGAIN: 11, EINVAL: 22 } as const;

const O_CLOEXEC = 0o2000000;
const F_SETPIPE_SZ = 1031;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
const SPLICE_F_MOVE = 1;
const SPLICE_F_NONBLOCK = 2;

/** Load pipe2 and fcntl. Throws if koffi or a symbol is missing. */
export function loadPipes(): PipeSys {
  const koffi = loadKoffi();
  const lib = koffi.load(null as unknown as string);
  const pipe2 = lib.func("int pipe2(_Out_ int *fds, int flags)");
  const fcntl = lib.func("int fcntl(int fd, int cmd, ...)");
  const write = lib.func("long write(int fd, const void *buf, size_t count)");
  const read = lib.func("long read(int fd, _Out_ void *buf, size_t count)");
  const tee = lib.func("long tee(int fd_in, int fd_out, size_t len, unsigned int flags)");
  const splice = lib.func("long splice(int fd_in, void *off_in, int fd_out, void *off_out, size_t len, unsigned int flags)");
  const poll = lib.func("int poll(_Inout_ void *fds, unsigned long nfds, int timeout)");
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
    read: (fd, buf) => {
      const r = Number(read(fd, buf, buf.length));
      return r >= 0 ? r : fail();
    },
    setNonBlocking: (fd) => {
      const flags = fcntl(fd, F_GETFL) as number;
      if (flags < 0) return fail();
      return (fcntl(fd, F_SETFL, "int", flags | O_NONBLOCK) as number) < 0 ? fail() : 0;
    },
    tee: (from, to, len) => {
      const r = Number(tee(from, to, len, SPLICE_F_NONBLOCK));
      return r >= 0 ? r : fail();
    },
    splice: (from, to, len) => {
      const r = Number(splice(from, null, to, null, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK));
      return r >= 0 ? r : fail();
    },
    pollAsync: (fds, done) => {
      // koffi runs the call on a threadpool thread and the callback on the main thread; errno
      // is that thread's, so a failure is reported as -EINTR (the caller polls again).
      poll.async(fds, fds.length / 8, -1, (err: unknown, n: number) => done(err ? -ERRNO.EINTR : n < 0 ? -ERRNO.EINTR : n));
    },
  };
}
