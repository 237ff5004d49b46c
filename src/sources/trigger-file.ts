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

/** Polling interval when inotify cannot be had (limits reached on a busy node) and --poll is off. */
const POLL_FALLBACK_MS = 1000;

/** Watch `file`; the watch is in place when this returns. Returns a closer. If inotify fails
 *  (ENOSPC or EMFILE when the node's inotify limits are reached), falls back to polling with a
 *  warning, now or later. */
export function watchTriggerFile(file: string, pollMs: number | null, dispatch: Dispatch, now: () => number, log: Logger): () => void {
  const take = () => {
    // Every inotify event for the name lands here (create, attrib, our own delete): act only
    // while the file exists, and delete it at once so that one touch is one request.
    if (!exists(file)) return;
    dispatch({ type: "restart-requested", source: "trigger-file", detail: file, at: now() });
    removeTrigger(file, log);
  };
  const poll = (interval: number) => {
    watchFile(file, { interval, persistent: true }, take);
    return () => unwatchFile(file, take);
  };
  if (pollMs !== null) return poll(pollMs);
  let close: () => void;
  const fallBack = (err: NodeJS.ErrnoException) => {
    log.warn({ event: "source-degraded", source: "trigger-file", error: err.code ?? err.message, fallback: "polling", pollMs: POLL_FALLBACK_MS, hint: "raise fs.inotify.max_user_instances / max_user_watches, or set --poll" });
    close = poll(POLL_FALLBACK_MS);
    take(); // a touch made while inotify was failing
  };
  const name = path.basename(file);
  try {
    const watcher = watch(path.dirname(file), { persistent: true }, (_kind, changed) => {
      if (changed === null || changed === name) take();
    });
    close = () => watcher.close();
    watcher.on("error", (err) => {
      watcher.close();
      fallBack(err);
    });
  } catch (err) {
    fallBack(err as NodeJS.ErrnoException);
  }
  return () => close();
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
