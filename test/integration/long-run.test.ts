// A fast guard for long runs (the full one is `npm run soak`): 300 restarts in a row, from the
// restart signal and the trigger file in turn, each sent once the previous one is done. Every
// request gives exactly one new generation, PID 1 ends with the descriptors (kind for kind) it had after warm-up,
// and no zombie is left. RSS is too noisy for a test; the soak measures it.
import { afterEach, describe, expect, it } from "vitest";
import { readdirSync, readlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { cleanupAll, startPidone, type Pidone } from "../helpers/pidone.js";
import { zombies } from "../helpers/proc.js";

afterEach(cleanupAll);

/** PID 1's descriptors by what they are (`pipe:`, `socket:`, `anon_inode:[pidfd]`, a path),
 *  sorted: a new generation's pipes are new pipes, and may come back under other numbers. */
const fds = (pid: number): string[] => readdirSync(`/proc/${pid}/fd`).map((fd) => {
  try {
    return readlinkSync(`/proc/${pid}/fd/${fd}`).replace(/\[\d+\]$/, "");
  } catch {
    return "(gone)";
  }
}).sort();

/** PID 1's descriptors once the last generation's pipe ends are closed: the same in two looks
 *  100 ms apart (bounded). */
async function settled(p: Pidone): Promise<string[]> {
  let last = fds(p.pid1);
  return p.until(() => {
    const now = fds(p.pid1);
    const same = JSON.stringify(now) === JSON.stringify(last);
    last = now;
    return same && now;
  }, "PID 1's descriptors to settle after warm-up", 5000, 100);
}

describe("long runs", () => {
  it("300 restarts: one generation per request, descriptors flat, no zombies", async () => {
    const p = startPidone({ args: ["--max-restarts", "1000", "--", "sleep", "infinity"] });
    await p.waitForEvent("ready");
    const trigger = path.join(p.dir, ".restart_trigger");
    const N = 300;
    let warm: string[] = [];
    let seen = 0;
    for (let i = 1; i <= N; i++) {
      if (i % 2 === 0) p.signal("SIGUSR1");
      else writeFileSync(trigger, "");
      // Wait for restart i by reading on from the last one: 300 waits stay linear.
      await p.until(() => {
        while (seen < p.events.length) if (p.events[seen++]?.event === "restart") return true;
        return false;
      }, `restart ${i}`);
      if (i === 20) warm = await settled(p);
    }
    const restarts = p.all("restart");
    expect(restarts).toHaveLength(N);
    expect(new Set(restarts.map((e) => e.newPid)).size).toBe(N);
    expect(restarts.filter((e) => e.source === "signal")).toHaveLength(N / 2);
    // The last generations' pipe ends close once pidone has read them to their end (the app's
    // exit), a moment after the restart is logged: wait for that (bounded), then PID 1 must hold
    // what it held after warm-up, kind for kind.
    const same = () => JSON.stringify(fds(p.pid1)) === JSON.stringify(warm);
    await p.until(same, "the descriptors PID 1 had after warm-up, and no more", 5000, 20).catch(() => undefined);
    expect(fds(p.pid1), p.output()).toEqual(warm);
    expect(zombies(p.pid1)).toEqual([]);
    expect(p.tree().map((x) => x.comm)).toEqual(["sleep"]);
  }, 120_000);
});
