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

/** Start watching; resolves when the initial scan is done. Returns a closer. */
export async function watchPaths(opts: WatchOptions, dispatch: Dispatch, now: () => number, log: Logger): Promise<() => Promise<void>> {
  const { watch } = await import("chokidar");
  const watcher = watch(opts.paths as string[], {
    ignored: await ignoreMatcher(opts.ignore, opts.exclude, opts.cwd),
    ignoreInitial: true,
    persistent: true,
    usePolling: opts.pollMs !== null,
    interval: opts.pollMs ?? undefined,
  });
  let timer: NodeJS.Timeout | null = null;
  let first = "";
  let count = 0;
  watcher.on("all", (kind, file) => {
    if (count === 0) first = file;
    count++;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      const detail = count === 1 ? `${kind} ${first}` : `${count} changes, first ${first}`;
      count = 0;
      dispatch({ type: "restart-requested", source: "watch", detail, at: now() });
    }, opts.debounceMs);
  });
  watcher.on("error", (err) => log.warn({ event: "watch-error", error: (err as Error).message }));
  await new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  return async () => {
    if (timer) clearTimeout(timer);
    await watcher.close();
  };
}
