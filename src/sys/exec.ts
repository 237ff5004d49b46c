// execvp and the process-group calls for the node exec shim (src/child/exec-shim.ts), through
// koffi: Node has no exec, setpgid or tcsetpgrp.
import { ERRNO_NAMES } from "./sockets.js";
import { loadKoffi } from "./libc.js";

const SIG_BLOCK = 0;
const SIG_SETMASK = 2;
const F_SETFD = 2;
const SIGTTOU = 22;
/** sizeof(sigset_t) in glibc and musl (1024 bits), with room to spare for the old mask. */
const SIGSET_BYTES = 128;

/** What the exec shim needs from libc. */
export interface ExecCalls {
  /** Set every catchable signal (1-31) to its default action: from here on a signal ends, stops
   *  or passes by this process as it would the app, whichever thread the kernel picks. */
  defaultSignals(): void;
  /** Make this process the leader of a new process group in its session and that group the
   *  terminal's foreground (fd 0). Returns null, or the errno name of what failed. */
  takeTerminal(): string | null;
  /** Clear close-on-exec on `keepFds`, empty the signal mask, execvp. Returns the errno name
   *  only if the exec failed. */
  exec(file: string, argv: readonly string[], keepFds: readonly number[]): string;
}

/** Load the calls (koffi). Throws if the native module or a symbol is missing. */
export function loadExec(): ExecCalls {
  const koffi = loadKoffi();
  const lib = koffi.load(null as unknown as string);
  const execvp = lib.func("int execvp(const char *file, const char **argv)");
  const sigprocmask = lib.func("int sigprocmask(int how, const void *set, void *oldset)");
  const signal = lib.func("void *signal(int sig, void *handler)");
  const fcntl = lib.func("int fcntl(int fd, int cmd, ...)");
  const setpgid = lib.func("int setpgid(int pid, int pgid)");
  const tcsetpgrp = lib.func("int tcsetpgrp(int fd, int pgrp)");
  const errno = () => ERRNO_NAMES.get(koffi.errno()) ?? `errno ${koffi.errno()}`;
  return {
    defaultSignals() {
      // Node ignores SIGPIPE, and ignored signals stay ignored across exec; handled ones are
      // reset by exec itself. SIG_DFL is a null pointer.
      for (let sig = 1; sig < 32; sig++) if (sig !== 9 && sig !== 19) signal(sig, null);
    },
    takeTerminal() {
      if (setpgid(0, 0) !== 0) return `setpgid: ${errno()}`;
      // The new group is in the background until tcsetpgrp returns, and a background process
      // that calls tcsetpgrp gets SIGTTOU (whose default stops it) unless it blocks or ignores
      // it. Blocking, not ignoring: a SIGTTOU someone sends meanwhile stays pending and is
      // delivered when the mask is emptied before exec, not lost.
      const set = Buffer.alloc(SIGSET_BYTES);
      set[Math.floor((SIGTTOU - 1) / 8)] = 1 << ((SIGTTOU - 1) % 8);
      const old = Buffer.alloc(SIGSET_BYTES);
      sigprocmask(SIG_BLOCK, set, old);
      const ok = tcsetpgrp(0, process.pid) === 0;
      const failed = ok ? null : `tcsetpgrp: ${errno()}`;
      sigprocmask(SIG_SETMASK, old, null);
      return failed;
    },
    exec(file, argv, keepFds) {
      // Node marks its stdio close-on-exec at startup: without this the app would start with
      // stdin, stdout and stderr closed.
      for (const fd of keepFds) fcntl(fd, F_SETFD, "int", 0);
      // An empty mask, as libuv's spawn gives.
      sigprocmask(SIG_SETMASK, Buffer.alloc(SIGSET_BYTES), null);
      execvp(file, [...argv, null]);
      return errno();
    },
  };
}
