// The drain's watch, step by step: done once the old sockets are seen empty twice in a row and
// the old generation has read what it accepted (or UNREAD_WAIT_MS went by), or once nothing has
// been accepted for DRAIN_STALL_MS.
import { describe, expect, it } from "vitest";
import { DRAIN_STALL_MS, HANDOVER_STALL_MS, UNREAD_WAIT_MS, drainLook, drainStarts, type DrainWatch } from "../../src/child/handoff/drain.js";

/** Feed looks of [t, queued, unread] and return every state. */
function feed(looks: [number, number, number?][], stallMs?: number): DrainWatch[] {
  let w = drainStarts(0);
  const seen: DrainWatch[] = [];
  for (const [t, left, unread = 0] of looks) {
    if (w.kind === "done") throw new Error(`a look after the drain was done: ${JSON.stringify(seen)}`);
    w = drainLook(w, left, t, () => unread, stallMs);
    seen.push(w);
  }
  return seen;
}

describe("drainLook", () => {
  it("empty twice in a row with nothing unread: done, nothing left", () => {
    expect(feed([[0, 0], [5, 0]]).map((w) => w.kind)).toEqual(["empty", "done"]);
    expect(feed([[0, 3], [5, 1], [10, 0], [15, 0]]).at(-1)).toEqual({ kind: "done", left: 0, unread: 0 });
  });

  it("one empty look is not enough: a connection can still land", () => {
    expect(feed([[0, 0], [5, 2], [10, 0], [15, 0]]).map((w) => w.kind)).toEqual(["empty", "queued", "empty", "done"]);
  });

  it("accepted but unread: waits up to UNREAD_WAIT_MS from the second empty look, then reports them", () => {
    const w = feed([[0, 0], [5, 0, 2], [5 + UNREAD_WAIT_MS - 1, 0, 2], [5 + UNREAD_WAIT_MS, 0, 1]]);
    expect(w.map((x) => x.kind)).toEqual(["empty", "unread", "unread", "done"]);
    expect(w.at(-1)).toEqual({ kind: "done", left: 0, unread: 1 });
    expect(feed([[0, 0], [5, 0, 2], [10, 0, 0]]).at(-1)).toEqual({ kind: "done", left: 0, unread: 0 });
  });

  it("a queue that grows back clears the unread wait", () => {
    const w = feed([[0, 0], [5, 0, 1], [10, 1], [15, 0], [20, 0, 1], [20 + UNREAD_WAIT_MS - 1, 0, 1]]);
    expect(w.map((x) => x.kind)).toEqual(["empty", "unread", "queued", "empty", "unread", "unread"]);
  });

  it("stalls when nothing is accepted for DRAIN_STALL_MS: done with what is left", () => {
    expect(feed([[0, 4], [DRAIN_STALL_MS - 1, 4]]).at(-1)?.kind).toBe("queued");
    expect(feed([[0, 4], [DRAIN_STALL_MS, 4]]).at(-1)).toEqual({ kind: "done", left: 4, unread: 0 });
    // Progress (fewer queued) restarts the clock.
    expect(feed([[0, 4], [60, 3], [60 + DRAIN_STALL_MS - 1, 3]]).at(-1)?.kind).toBe("queued");
    // A queue that grows is no progress.
    expect(feed([[0, 4], [60, 5], [DRAIN_STALL_MS, 5]]).at(-1)).toEqual({ kind: "done", left: 5, unread: 0 });
  });

  it("in a handover the stall bound is HANDOVER_STALL_MS: a 100 ms hiccup of the old generation resets nothing", () => {
    expect(HANDOVER_STALL_MS).toBeGreaterThan(DRAIN_STALL_MS);
    expect(feed([[0, 4], [DRAIN_STALL_MS, 4], [HANDOVER_STALL_MS - 1, 4]], HANDOVER_STALL_MS).at(-1)?.kind).toBe("queued");
    expect(feed([[0, 4], [HANDOVER_STALL_MS, 4]], HANDOVER_STALL_MS).at(-1)).toEqual({ kind: "done", left: 4, unread: 0 });
  });
});
