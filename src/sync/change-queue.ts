// The sender's debouncing: the paths the watcher reports are gathered until none has come for
// the debounce time, then taken as one batch (an editor's save or a `git checkout` is one batch,
// not many). Portable.

/** Changed paths waiting for the next batch, and when they have settled. */
export class ChangeQueue {
  private pending = new Set<string>();
  /** Runs while changes are still coming in; null once they have settled. */
  private timer: NodeJS.Timeout | null = null;
  private waiter: (() => void) | null = null;

  constructor(private debounceMs: number) {}

  /** A change: remember the path and (re)start the settle timer. */
  changed(rel: string): void {
    this.pending.add(rel);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      const w = this.waiter;
      this.waiter = null;
      w?.();
    }, this.debounceMs);
  }

  /** Paths to look at again in the next batch (not sent after all), without restarting the timer. */
  again(paths: Iterable<string>): void {
    for (const p of paths) this.pending.add(p);
  }

  /** Resolves once changes are pending and none has come for the debounce time. */
  settled(): Promise<void> {
    if (this.pending.size > 0 && this.timer === null) return Promise.resolve();
    return new Promise((r) => (this.waiter = r));
  }

  /** Take every pending path, sorted (parents first). */
  take(): string[] {
    const out = [...this.pending].sort();
    this.pending.clear();
    return out;
  }

  /** Forget what is pending: a full scan of LOCAL_DIR covers it. */
  clear(): void {
    this.pending.clear();
  }
}
