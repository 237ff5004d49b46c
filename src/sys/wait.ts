// waitpid with the exit status, through koffi: for an app generation that outlived the preload
// zygote it was forked from and so became pidone's own child (src/preload/launcher.ts).
import { decodeWaitStatus, type ExitStatus } from "../exit-status.js";
import { loadKoffi } from "./libc.js";

const WNOHANG = 1;

/** waitpid(pid, WNOHANG): the status if it ended, null if it still runs, "gone" if it is not a
 *  child of this process (ECHILD). */
export type WaitOne = (pid: number) => ExitStatus | null | "gone";

/** Load waitpid. Throws if koffi cannot be loaded. */
export function loadWaitOne(): WaitOne {
  const lib = loadKoffi().load(null as unknown as string);
  const waitpid = lib.func("int waitpid(int pid, _Out_ int *status, int options)");
  return (pid) => {
    const status = [0];
    const rc = waitpid(pid, status, WNOHANG) as number;
    if (rc === 0) return null;
    if (rc < 0) return "gone";
    return decodeWaitStatus(status[0] as number);
  };
}
