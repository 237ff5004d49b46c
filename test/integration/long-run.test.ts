// A fast guard for long runs (the full one is `npm run soak`): 300 restarts in a row, from the
// restart signal and the trigger file in turn, each sent once the previous one is done. Every
// request gives exactly one new generation, PID 1 ends with no descriptor beyond those it had after warm-up,
// and no zombie is left. RSS is too noisy for a test; the soak measures it.
import { afterEach, describe, expect, it } from "vitest";
import { readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { cleanupAll, startPidone } from "../helpers/pidone.js";
import { zombies } from "../helpers/proc.js";

afterEach(cleanupAll);

const fds = (pid: number): string[] => readdirSync(`/proc/${pid}/fd`).sort();

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
      if (i === 20) warm = fds(p.pid1);
    }
    const restarts = p.all("restart");
    expect(restarts).toHaveLength(N);
    expect(new Set(restarts.map((e) => e.newPid)).size).toBe(N);
    expect(restarts.filter((e) => e.source === "signal")).toHaveLength(N / 2);
    // The last generations' pipe ends close once pidone has read them to their end (the app's
    // exit), a moment after the restart is logged: wait for that (bounded); nothing may stay open
    // beyond what PID 1 held after warm-up.
    const extra = () => fds(p.pid1).filter((fd) => !warm.includes(fd));
    await p.until(() => extra().length === 0, "no descriptor beyond the warm-up set", 5000);
    expect(extra(), p.output()).toEqual([]);
    expect(zombies(p.pid1)).toEqual([]);
    expect(p.tree().map((x) => x.comm)).toEqual(["sleep"]);
  }, 120_000);
});
