// execvp for the node exec shim (src/child/exec-shim.ts), through koffi: Node has no exec.
import { ERRNO_NAMES } from "./sockets.js";
import { loadKoffi } from "./libc.js";

const SIG_SETMASK = 2;
const F_SETFD = 2;

/** Clear close-on-exec on `keepFds`, reset signal dispositions and the mask to their defaults,
 *  then execvp. The returned function returns the errno name only if the exec failed. */
export function loadExec(): (file: string, argv: readonly string[], keepFds: readonly number[]) => string {
  const koffi = loadKoffi();
  const lib = koffi.load(null as unknown as string);
  const execvp = lib.func("int execvp(const char *file, const char **argv)");
  const sigprocmask = lib.func("int sigprocmask(int how, const void *set, void *oldset)");
  const signal = lib.func("void *signal(int sig, void *handler)");
  const fcntl = lib.func("int fcntl(int fd, int cmd, ...)");
  return (file, argv, keepFds) => {
    // Node marks its stdio close-on-exec at startup: without this the app would start with
    // stdin, stdout and stderr closed.
    for (const fd of keepFds) fcntl(fd, F_SETFD, "int", 0);
    // Node ignores SIGPIPE, and ignored signals stay ignored across exec; handled ones are
    // reset by exec itself. Give the app the defaults and an empty mask, as libuv's spawn does.
    for (let sig = 1; sig < 32; sig++) if (sig !== 9 && sig !== 19) signal(sig, null);
    sigprocmask(SIG_SETMASK, Buffer.alloc(128), null);
    execvp(file, [...argv, null]);
    return ERRNO_NAMES.get(koffi.errno()) ?? `errno ${koffi.errno()}`;
  };
}
