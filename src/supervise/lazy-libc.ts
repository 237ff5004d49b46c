// koffi's libc (waitpid, prctl) loaded once, when first needed: before the spawn only when pidone
// must make itself a subreaper; as PID 1 after the app started, or at the first SIGCHLD.
import type { Logger } from "pino";
import { loadLibc, type Libc } from "../sys/libc.js";

/** A loader that loads libc on its first call and returns the same answer after; null (logged
 *  once as reaper-unavailable) when it cannot be loaded. */
export function lazyLibc(log: Logger): () => Libc | null {
  let loaded: Libc | null | undefined;
  return () => {
    if (loaded !== undefined) return loaded;
    try {
      loaded = loadLibc();
    } catch (err) {
      loaded = null;
      log.error({ event: "reaper-unavailable", error: (err as Error).message, hint: "orphaned zombies will not be reaped" });
    }
    return loaded;
  };
}
