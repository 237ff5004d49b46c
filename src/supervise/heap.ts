// PID 1's own heap, kept small after the first restart (bench/soak.mjs measures it).
import type { StatusSnapshot } from "../supervisor/events.js";

/** V8 sizes its heap for throughput: it doubles the young generation (1 MB semi-spaces, up to 16)
 *  each time the bytes surviving its scavenges add up to its size, and lets the old generation
 *  grow to about 4x its live size before the next full GC when GCs are cheap. A burst of restarts
 *  allocates fast (the spawn, log lines, watcher rescans), and the soak (bench/soak.mjs) saw PID
 *  1's RSS climb from 54 to 93 MB with a live heap of 6 MB; an idle pidone runs no GC, so that
 *  memory stays committed. A growth factor of 1 keeps the young generation at its initial size,
 *  and a 50% growing step caps the old generation near live + 8 MB (V8's minimum step); each
 *  full GC of a 6 MB heap costs a few ms. Both flags are read at each sizing decision, so setting
 *  them at run time takes effect (verified on Node 20 and 22; other majors are left alone, since
 *  an unknown flag prints to stderr). Loading node:v8 costs 7-30 ms, so this waits for the first
 *  restart to be done: a pidone that never restarts never pays. */
export function keepHeapSmall(runner: { subscribe(listener: (s: StatusSnapshot) => void): () => void }): void {
  const major = Number(process.versions.node.split(".")[0]);
  if (major !== 20 && major !== 22) return;
  const unsubscribe = runner.subscribe((s) => {
    if (s.restarts === 0 || s.state !== "running") return;
    unsubscribe();
    setImmediate(() => {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const v8 = require("node:v8") as typeof import("node:v8");
        v8.setFlagsFromString("--semi-space-growth-factor=1");
        v8.setFlagsFromString("--heap-growing-percent=50");
      } catch {
        // only memory is at stake
      }
    });
  });
}
