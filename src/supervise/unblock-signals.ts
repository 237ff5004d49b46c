// The signals pidone handles, unblocked where Node left them blocked.
import type { Logger } from "pino";
import { unblockSignals } from "../sys/sigmask.js";

/** Node started with --disable-sigusr1 leaves SIGUSR1 blocked (src/sys/sigmask.ts). Done after
 *  the spawn, like koffi's load: a signal sent before is pending, not lost, and arrives now. */
export function unblockHandledSignals(signals: NodeJS.Signals[], log: Logger): void {
  try {
    const blocked = unblockSignals(signals);
    if (blocked.length > 0) log.debug({ event: "signals-unblocked", signals: blocked, note: "node left them blocked (--disable-sigusr1)" });
  } catch (err) {
    log.error({ event: "signal-unblock-failed", error: (err as Error).message, hint: "SIGUSR1 may not reach pidone; use `pidone restart` or the trigger file" });
  }
}
