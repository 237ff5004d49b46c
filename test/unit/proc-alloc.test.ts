// The reaper reads /proc on every SIGCHLD. procfs files report size 0, and readFileSync reads
// such a file through fresh 64 KiB Buffers unless it takes Node's native utf8 path; that garbage
// made V8 size PID 1's heap up during restart bursts (see bench/soak.mjs). Buffers outside the
// V8 heap show in process.memoryUsage().arrayBuffers until a GC, which 50 reads do not trigger.
import { describe, expect, it } from "vitest";
import { catchesSignal, directChildren, listProcesses } from "../../src/sys/proc.js";

const arrayBufferGrowth = (fn: () => unknown): number => {
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 50; i++) fn();
  return process.memoryUsage().arrayBuffers - before;
};

describe("/proc reads allocate no Buffers", () => {
  it.each([
    ["directChildren", () => directChildren()],
    ["listProcesses", () => listProcesses()],
    ["catchesSignal", () => catchesSignal(process.pid, 10)],
  ])("%s", (_name, fn) => {
    fn(); // first call: lazy setup
    // 50 reads through readFileSync(..., "latin1") allocate 50 x 128 KiB = 6.4 MiB (x the
    // process count for listProcesses); the native path allocates none.
    expect(arrayBufferGrowth(fn)).toBeLessThan(256 * 1024);
  });
});
