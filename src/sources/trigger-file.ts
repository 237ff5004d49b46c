// The trigger file: `touch .restart_trigger` in the pod restarts the app. pidone removes the file
// once it has taken the request, so the next touch works again.
//
// Event-driven through inotify (fs.watch on the file's directory), or stat polling with --poll
// for file systems that deliver no events (NFS, some volume mounts). Not chokidar: measured here,
// chokidar drops a creation that follows its own 'unlink' within a few ms (3 of 10 back-to-back
// touches were missed for ~1 s each), and for a path that does not exist yet its 'ready' comes
// before the parent's watch is in place. One file in one directory needs neither its recursion
// nor its globbing; chokidar stays for --watch.
import { statSync, unlinkSync, watch, watchFile, unwatchFile } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import type { Dispatch } from "../supervisor/events.js";

/** Watch `file`; the watch is in place when this returns. Returns a closer. */
export function watchTriggerFile(file: string, pollMs: number | null, dispatch: Dispatch, now: () => number, log: Logger): () => void {
  const take = () => {
    // Every inotify event for the name lands here (create, attrib, our own delete): act only
    // while the file exists, and delete it at once so that one touch is one request.
    if (!exists(file)) return;
    dispatch({ type: "restart-requested", source: "trigger-file", detail: file, at: now() });
    removeTrigger(file, log);
  };
  if (pollMs !== null) {
    watchFile(file, { interval: pollMs, persistent: true }, take);
    return () => unwatchFile(file, take);
  }
  const name = path.basename(file);
  const watcher = watch(path.dirname(file), { persistent: true }, (_kind, changed) => {
    if (changed === null || changed === name) take();
  });
  watcher.on("error", (err) => log.warn({ event: "trigger-file-error", file, error: err.message }));
  return () => watcher.close();
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
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
