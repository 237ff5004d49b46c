// The few syscalls Node does not expose, through koffi. Nothing else in pidone touches FFI.
// koffi's native part is loaded straight from the .node file the build copies beside the bundle
// (dist/koffi/<triplet>/koffi.node): its JS loader looks for its platform package relative to
// node_modules, which does not exist in an image that only carries dist/.
import { existsSync } from "node:fs";
import path from "node:path";
import type * as Koffi from "koffi";

/** How a child ended, as waitid's siginfo_t says: si_code (CLD_EXITED 1, CLD_KILLED 2,
 *  CLD_DUMPED 3) and si_status (the exit code, or the signal number). */
export interface ChildExit {
  code: number;
  status: number;
}

/** The typed surface pidone needs from libc. Calls return a negative errno instead of throwing. */
export interface Libc {
  /** waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT): the pid of some zombie child, left unreaped;
   *  0 if there are children but none has exited; -ECHILD if there are no children at all. */
  peekZombie(): number;
  /** waitid(P_PID, pid, WEXITED | WNOHANG): reap `pid` if it is a zombie; null if it still runs
   *  (or is not a child). */
  reap(pid: number): ChildExit | null;
  /** Make this process a child subreaper, so orphans of its descendants come to it. */
  setChildSubreaper(): boolean;
  /** pidfd_open(pid, 0) (Linux 5.3+): a descriptor that names this very process, never a later
   *  one that reuses its pid; -errno (ENOSYS on older kernels). */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(fd, signo, NULL, 0): 0, or -errno (ESRCH once the process is reaped). */
  pidfdSendSignal(fd: number, signo: number): number;
}

const P_ALL = 0;
const P_PID = 1;
const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;
const ECHILD = 10;
const PR_SET_CHILD_SUBREAPER = 36;
/** Generic syscall numbers (the same on x86_64 and aarch64, like every syscall since 424). */
const SYS_PIDFD_SEND_SIGNAL = 424;
const SYS_PIDFD_OPEN = 434;
/** siginfo_t on x86_64/aarch64 Linux: 128 bytes; si_code int@8, si_pid int@16, si_status int@24. */
const SIGINFO_SIZE = 128;
const SI_CODE = 8;
const SI_PID = 16;
const SI_STATUS = 24;

/** koffi itself, from the bundle's dist/koffi/ or node_modules; shared by every FFI module in src/sys/. */
export function loadKoffi(): typeof Koffi {
  // node:module loads here, with koffi (after the spawn as PID 1), not with the supervisor.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const req = (require("node:module") as typeof import("node:module")).createRequire(__filename);
  const arch = process.arch;
  // Try glibc first, then musl (Alpine); the one that does not match the node binary fails to load.
  const candidates = [`linux_${arch}`, `musl_${arch}`].flatMap((triplet) => [
    path.join(__dirname, "koffi", triplet, "koffi.node"),
    path.join(__dirname, "..", "node_modules", "@koromix", `koffi-linux-${arch}`, triplet, "koffi.node"),
  ]);
  let lastError: unknown = new Error(`no koffi.node for ${process.platform}-${arch} beside ${__dirname}`);
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    try {
      return req(file) as typeof Koffi;
    } catch (err) {
      lastError = err;
    }
  }
  // Unbundled (tests, ts sources): the package's own loader knows where it is.
  try {
    return req("koffi") as typeof Koffi;
  } catch {
    throw lastError;
  }
}

/** Load libc through koffi. Throws if the native module or a symbol is missing. */
export function loadLibc(): Libc {
  const koffi = loadKoffi();
  // dlopen(NULL): the symbols of the running node binary, which links the C library in use.
  const lib = koffi.load(null as unknown as string);
  const waitid = lib.func("int waitid(int idtype, int id, _Inout_ void *info, int options)");
  const prctl = lib.func("int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)");
  // glibc 2.36+ has wrappers; musl and older glibc only the raw syscall (variadic, slower, but
  // only used once per generation and per signal to the app).
  let pidfdOpen: (pid: number) => number;
  let pidfdSendSignal: (fd: number, signo: number) => number;
  try {
    const open = lib.func("int pidfd_open(int pid, unsigned int flags)");
    const send = lib.func("int pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags)");
    pidfdOpen = (pid) => open(pid, 0) as number;
    pidfdSendSignal = (fd, signo) => send(fd, signo, null, 0) as number;
  } catch {
    const syscall = lib.func("long syscall(long number, ...)");
    pidfdOpen = (pid) => Number(syscall(SYS_PIDFD_OPEN, "int", pid, "unsigned int", 0));
    pidfdSendSignal = (fd, signo) => Number(syscall(SYS_PIDFD_SEND_SIGNAL, "int", fd, "int", signo, "void *", null, "unsigned int", 0));
  }
  const fail = (): number => -(koffi.errno() as number);
  // One buffer for every call: this runs on every SIGCHLD, so nothing is allocated per call.
  const info = Buffer.alloc(SIGINFO_SIZE);
  return {
    peekZombie: () => {
      // With WNOHANG and nothing waitable, waitid returns 0 and leaves si_pid as it was.
      info.writeInt32LE(0, SI_PID);
      if ((waitid(P_ALL, 0, info, WEXITED | WNOHANG | WNOWAIT) as number) !== 0) {
        const errno = koffi.errno() as number;
        return errno === ECHILD ? -ECHILD : -errno;
      }
      return info.readInt32LE(SI_PID);
    },
    reap: (pid) => {
      info.writeInt32LE(0, SI_PID);
      if ((waitid(P_PID, pid, info, WEXITED | WNOHANG) as number) !== 0) return null;
      if (info.readInt32LE(SI_PID) !== pid) return null;
      return { code: info.readInt32LE(SI_CODE), status: info.readInt32LE(SI_STATUS) };
    },
    setChildSubreaper: () => prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) === 0,
    pidfdOpen: (pid) => {
      const fd = pidfdOpen(pid);
      return fd >= 0 ? fd : fail();
    },
    pidfdSendSignal: (fd, signo) => (pidfdSendSignal(fd, signo) === 0 ? 0 : fail()),
  };
}
