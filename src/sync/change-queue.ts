// The sender's batching: the paths the watcher reports are gathered until none has come for a
// quiet window, then taken as one batch (an editor's save or a `git checkout` is one batch, not
// many). The window is short for a save and grows with a burst's own gaps (quietWindow). Portable.

/** Wall-clock ms with a fraction: the `--json` events' stamps, comparable across processes. */
export const wallNow = (): number => Math.round((performance.timeOrigin + performance.now()) * 10) / 10;

/** The quiet window after a lone change: an editor's save is one to three events within ~1 ms. */
export const QUIET_MIN_MS = 8;
/** The longest quiet window, and how soon after a batch was taken a change counts as the same
 *  burst going on (which then waits this whole window). */
export const QUIET_MAX_MS = 50;
/** Within a burst, the window is this many times the longest gap seen between its changes. */
export const GAP_FACTOR = 3;

/** How the queue decides that changes have settled: `fixed` (`--debounce`): no change for `ms`;
 *  `adaptive` (the default): see quietWindow. */
export type Batching = { kind: "fixed"; ms: number } | { kind: "adaptive" };

/** What quietWindow looks at in the burst being gathered. */
export interface Burst {
  /** The longest gap between two of its changes so far (0 for a lone change). */
  maxGapMs: number;
  /** Its first change came less than QUIET_MAX_MS after the previous batch was taken. */
  follows: boolean;
}

/** How long after the burst's last change the batch is taken. Adaptive: QUIET_MIN_MS for a lone
 *  change, GAP_FACTOR x the burst's longest gap when its changes come spaced out (a checkout
 *  writing files in a loop), at most QUIET_MAX_MS, and QUIET_MAX_MS for a burst that follows a
 *  batch closely. So a burst whose gaps stay under QUIET_MAX_MS gives at most two batches (one
 *  restart each): the first once a gap reaches its window, the second, the rest, at its end. */
export function quietWindow(b: Batching, burst: Burst): number {
  if (b.kind === "fixed") return b.ms;
  if (burst.follows) return QUIET_MAX_MS;
  return Math.min(QUIET_MAX_MS, Math.max(QUIET_MIN_MS, GAP_FACTOR * burst.maxGapMs));
}

/** Changed paths waiting for the next batch, and when they have settled. */
export class ChangeQueue {
  private pending = new Set<string>();
  /** Runs while changes are still coming in; null once they have settled. */
  private timer: NodeJS.Timeout | null = null;
  private waiter: (() => void) | null = null;
  private burst: Burst & { lastAt: number } = { maxGapMs: 0, follows: false, lastAt: 0 };
  private takenAt: number | null = null;
  /** When the first pending change was seen (wallNow), for the batch's `applied` event. */
  seenAt: number | null = null;

  /** `now`: a monotonic clock in ms (tests pass their fake one). */
  constructor(private batching: Batching, private now: () => number = () => performance.now()) {}

  /** A change: remember the path and (re)start the quiet window. */
  changed(rel: string): void {
    const now = this.now();
    if (this.seenAt === null) {
      this.seenAt = wallNow();
      this.burst = { maxGapMs: 0, follows: this.takenAt !== null && now - this.takenAt < QUIET_MAX_MS, lastAt: now };
    }
    this.burst.maxGapMs = Math.max(this.burst.maxGapMs, now - this.burst.lastAt);
    this.burst.lastAt = now;
    this.pending.add(rel);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      const w = this.waiter;
      this.waiter = null;
      w?.();
    }, quietWindow(this.batching, this.burst));
  }

  /** Paths to look at again in the next batch (not sent after all), without restarting the timer. */
  again(paths: Iterable<string>): void {
    for (const p of paths) this.pending.add(p);
  }

  /** Resolves once changes are pending and none has come for the quiet window. */
  settled(): Promise<void> {
    if (this.pending.size > 0 && this.timer === null) return Promise.resolve();
    return new Promise((r) => (this.waiter = r));
  }

  /** Take every pending path, sorted (parents first). */
  take(): string[] {
    const out = [...this.pending].sort();
    this.pending.clear();
    this.seenAt = null;
    this.takenAt = this.now();
    return out;
  }

  /** Forget what is pending: a full scan of LOCAL_DIR covers it. */
  clear(): void {
    this.pending.clear();
    this.seenAt = null;
  }
}
