// waitpid with the exit status, through koffi: for an app generation that outlived the preload
// zygote it was forked from and so became pidone's own child (src/preload/launcher.ts).
import { constants } from "node:os";
import type { ExitStatus } from "../supervisor/events.js";
import { loadKoffi } from "./libc.js";

const WNOHANG = 1;
const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name]));

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

/** The kernel's wait status as an ExitStatus (exit code, or the name of the killing signal). */
export function decodeWaitStatus(status: number): ExitStatus {
  const sig = status & 0x7f;
  if (sig === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: signalName(sig) };
}

/** SIGTERM for 15; "SIG<n>" for a number Node does not name (real-time signals). */
export function signalName(n: number): string {
  return SIGNAL_NAMES.get(n) ?? `SIG${n}`;
}
