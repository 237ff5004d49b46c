// --watch: file changes under the given paths restart the app, debounced so that a burst of
// saves or a sync of hundreds of files gives one restart.
import path from "node:path";
import type { Logger } from "pino";
import type { Dispatch } from "../supervisor/events.js";

/** What to watch and how. */
export interface WatchOptions {
  paths: readonly string[];
  ignore: readonly string[];
  /** Exact paths never to react to (the trigger file, the control socket). */
  exclude: readonly string[];
  debounceMs: number;
  pollMs: number | null;
  cwd: string;
}

/** A predicate for chokidar's `ignored`: globs match the absolute path, the path relative to the
 *  working directory, and (for globs without a slash) the base name. */
export async function ignoreMatcher(globs: readonly string[], exclude: readonly string[], cwd: string): Promise<(p: string) => boolean> {
  // Loaded here, not at startup: only --watch needs it.
  const { default: picomatch } = await import("picomatch");
  const match = picomatch(globs as string[], { dot: true, basename: true });
  const excluded = new Set(exclude);
  return (p: string) => excluded.has(p) || match(p) || match(path.relative(cwd, p));
}

/** Polling interval when inotify cannot be had and --poll is off. */
const POLL_FALLBACK_MS = 1000;

/** inotify's answers when the node's limits are reached: watches (ENOSPC) or instances (EMFILE). */
const INOTIFY_EXHAUSTED = new Set(["ENOSPC", "EMFILE"]);

/** Start watching; resolves when the initial scan is done. Returns a closer. If inotify runs out
 *  (the node's limits), watches again by polling, with a warning. */
export async function watchPaths(opts: WatchOptions, dispatch: Dispatch, now: () => number, log: Logger): Promise<() => Promise<void>> {
  const { watch } = await import("chokidar");
  const ignored = await ignoreMatcher(opts.ignore, opts.exclude, opts.cwd);
  let timer: NodeJS.Timeout | null = null;
  let first = "";
  let count = 0;
  const onChange = (kind: string, file: string) => {
    if (count === 0) first = file;
    count++;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      const detail = count === 1 ? `${kind} ${first}` : `${count} changes, first ${first}`;
      count = 0;
      dispatch({ type: "restart-requested", source: "watch", detail, at: now() });
    }, opts.debounceMs);
  };
  let watcher: Awaited<ReturnType<typeof watch>> | null = null;
  /** Resolves once the watcher is ready, or once the polling one that replaced it is. */
  const start = (pollMs: number | null): Promise<void> => new Promise((ready) => {
    const w = watch(opts.paths as string[], {
      ignored, ignoreInitial: true, persistent: true, usePolling: pollMs !== null, interval: pollMs ?? undefined,
    });
    watcher = w;
    w.on("all", onChange);
    w.once("ready", () => ready());
    w.on("error", (err) => {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      if (pollMs === null && INOTIFY_EXHAUSTED.has(code) && watcher === w) {
        log.warn({ event: "source-degraded", source: "watch", error: code, fallback: "polling", pollMs: POLL_FALLBACK_MS, hint: "raise fs.inotify.max_user_instances / max_user_watches, or set --poll" });
        void w.close();
        void start(POLL_FALLBACK_MS).then(ready);
        return;
      }
      log.warn({ event: "watch-error", error: (err as Error).message });
    });
  });
  await start(opts.pollMs);
  return async () => {
    if (timer) clearTimeout(timer);
    await watcher?.close();
  };
}
