// The trigger file: `touch .restart_trigger` in the pod restarts the app. Event-driven through
// chokidar (inotify), or polling with --poll for file systems that deliver no events. pidone
// removes the file once it has acted, so the next touch works again.
import { statSync, unlinkSync } from "node:fs";
import type { Logger } from "pino";
import type { Dispatch } from "../supervisor/events.js";

/** Watch `file`; resolves once the watcher is ready. Returns a closer. */
export async function watchTriggerFile(
  file: string, pollMs: number | null, dispatch: Dispatch, now: () => number, log: Logger,
): Promise<() => Promise<void>> {
  const { watch } = await import("chokidar");
  const watcher = watch(file, {
    ignoreInitial: true,
    persistent: true,
    usePolling: pollMs !== null,
    interval: pollMs ?? undefined,
    // No awaitWriteFinish: the file's content does not matter, only that it appeared.
    atomic: false,
  });
  const onEvent = () => {
    // One touch can produce both 'add' and 'change'; once the file is gone the request was taken.
    try {
      statSync(file);
    } catch {
      return;
    }
    dispatch({ type: "restart-requested", source: "trigger-file", detail: file, at: now() });
    removeTrigger(file, log);
  };
  watcher.on("add", onEvent).on("change", onEvent);
  watcher.on("error", (err) => log.warn({ event: "trigger-file-error", file, error: (err as Error).message }));
  await new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  return () => watcher.close();
}

/** Remove the trigger file; a file already gone is fine. Returns true if it was there. */
export function removeTrigger(file: string, log: Logger): boolean {
  try {
    unlinkSync(file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") log.warn({ event: "trigger-file-remove-failed", file, error: code });
    return false;
  }
}
