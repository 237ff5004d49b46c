// The sender's session lifecycle and its debouncing, with no transport and no clock: the pure
// transitions of session-state.ts read as a table, and ChangeQueue's batching under fake timers.
import { afterEach, describe, expect, it, vi } from "vitest";
import { ChangeQueue, GAP_FACTOR, QUIET_MAX_MS, QUIET_MIN_MS, quietWindow, type Batching } from "../../src/sync/change-queue.js";
import type { RestartOutcome } from "../../src/sync/protocol.js";
import type { BatchReport } from "../../src/sync/report.js";
import {
  BACKOFF_MAX_MS, BACKOFF_MIN_MS, connected, initialSession, lost, reconciled, retry, type SessionState,
} from "../../src/sync/session-state.js";
import type { Connection } from "../../src/sync/transport.js";
import type { Entry } from "../../src/sync/tree.js";

// The transitions only carry the connection along: a token stands in for it.
const conn = { token: "conn" } as unknown as Connection;
const model = new Map<string, Entry>([["a", { kind: "f", size: 1, exec: false, mtimeMs: 1 }]]);
const report = (restart: RestartOutcome): BatchReport => ({ files: 1, bytes: 1, deletes: 0, applyMs: 1, restart });
const reconciling = connected(conn, model) as Extract<SessionState, { kind: "reconciling" }>;

describe("session transitions", () => {
  it("a session starts by connecting, and a handshake leads to the reconcile with the receiver's tree", () => {
    expect(initialSession()).toEqual({ kind: "connecting", retryMs: BACKOFF_MIN_MS });
    expect(reconciling).toEqual({ kind: "reconciling", conn, model });
  });

  it("watching, the reconcile leads to live with the same connection and model", () => {
    const s = reconciled(reconciling, report({ kind: "crashed", oldPid: 1, newPid: 2, generation: 2, restartMs: 1, status: "exit 1", upMs: 5, tail: null }), false);
    expect(s).toEqual({ kind: "live", conn, model });
    if (s.kind !== "live") throw new Error("not live");
    expect(s.conn).toBe(conn);
    expect(s.model).toBe(model);
  });

  it.each([
    ["nothing to send", null, "ok"],
    ["the restart came up", report({ kind: "up", oldPid: 1, newPid: 2, generation: 2, restartMs: 1, upMs: 300 }), "ok"],
    ["the new app is ready", report({ kind: "ready", oldPid: 1, newPid: 2, generation: 2, restartMs: 1, how: "handover" }), "ok"],
    ["--overlap kept the old app, the new code failed", report({ kind: "kept", oldPid: 1, newPid: 2, generation: 2, restartMs: 1, reason: "exited", status: "exit 1", tail: "boom\n" }), "failed"],
    ["no restart asked", report({ kind: "skipped" }), "ok"],
    ["the new app crashed", report({ kind: "crashed", oldPid: 1, newPid: null, generation: 2, restartMs: 1, status: "exit 3", upMs: 1, tail: null }), "failed"],
    ["the restart failed", report({ kind: "failed", error: "no pidone" }), "failed"],
  ] as const)("with --once the reconcile closes the session: %s -> %s", (_what, first, end) => {
    expect(reconciled(reconciling, first, true)).toEqual({ kind: "closed", end });
  });

  it.each([
    [false, "transport"],
    [true, "failed"],
  ] as const)("with --once a loss closes the session (refused: %s -> %s), from any state", (refused, end) => {
    for (const from of [initialSession(), reconciling, { kind: "live", conn, model } as SessionState]) {
      expect(lost(from, refused, true)).toEqual({ kind: "closed", end });
    }
  });

  it("while connecting keeps failing, the backoff doubles up to its bound", () => {
    const waits: number[] = [];
    let s = initialSession();
    for (let i = 0; i < 8; i++) {
      const b = lost(s, false, false);
      if (b.kind !== "backoff") throw new Error(`expected a backoff, got ${b.kind}`);
      waits.push(b.delayMs);
      s = retry(b);
    }
    expect(waits).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    expect(BACKOFF_MAX_MS).toBe(10_000);
  });

  it("a loss after a connection got through (reconciling or live) waits the shortest backoff again", () => {
    const longWait = retry({ kind: "backoff", delayMs: 8000 });
    expect(longWait).toEqual({ kind: "connecting", retryMs: 10_000 });
    expect(lost(reconciling, false, false)).toEqual({ kind: "backoff", delayMs: BACKOFF_MIN_MS });
    expect(lost({ kind: "live", conn, model }, true, false)).toEqual({ kind: "backoff", delayMs: BACKOFF_MIN_MS });
  });
});

describe("ChangeQueue, fixed (--debounce)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("settles only once no change has come for the debounce time, and a batch takes every path, parents first", async () => {
    vi.useFakeTimers();
    const q = new ChangeQueue({ kind: "fixed", ms: 50 });
    let settled = false;
    q.changed("b/x");
    void q.settled().then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(40);
    q.changed("a");
    q.changed("b");
    await vi.advanceTimersByTimeAsync(40);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(10);
    expect(settled).toBe(true);
    expect(q.take()).toEqual(["a", "b", "b/x"]);
    expect(q.take()).toEqual([]);
  });

  it("paths put back are pending without a new wait; a change already settled is taken at once", async () => {
    vi.useFakeTimers();
    const q = new ChangeQueue({ kind: "fixed", ms: 50 });
    q.changed("a");
    await vi.advanceTimersByTimeAsync(50);
    let settled = false;
    void q.settled().then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(true);
    expect(q.take()).toEqual(["a"]);
    q.again(["c", "a"]);
    settled = false;
    void q.settled().then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(true);
    expect(q.take()).toEqual(["a", "c"]);
  });

  it("with nothing pending, settled() waits for the next change to settle; clear() drops what is pending", async () => {
    vi.useFakeTimers();
    const q = new ChangeQueue({ kind: "fixed", ms: 50 });
    let settled = false;
    void q.settled().then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(500);
    expect(settled).toBe(false);
    q.changed("x");
    q.clear();
    await vi.advanceTimersByTimeAsync(50);
    // The timer still ends the wait; the batch it starts finds nothing to take.
    expect(settled).toBe(true);
    expect(q.take()).toEqual([]);
  });
});

describe("quietWindow (the adaptive batching rule)", () => {
  const adaptive: Batching = { kind: "adaptive" };
  it.each([
    ["a lone change", { maxGapMs: 0, follows: false }, QUIET_MIN_MS],
    ["a save's events ~1 ms apart", { maxGapMs: 1, follows: false }, QUIET_MIN_MS],
    ["files written 4 ms apart", { maxGapMs: 4, follows: false }, 4 * GAP_FACTOR],
    ["a gap of 40 ms", { maxGapMs: 40, follows: false }, QUIET_MAX_MS],
    ["a burst right after a batch", { maxGapMs: 0, follows: true }, QUIET_MAX_MS],
  ] as const)("%s", (_what, burst, ms) => {
    expect(quietWindow(adaptive, burst)).toBe(ms);
  });

  it("--debounce fixes the window whatever the burst", () => {
    for (const burst of [{ maxGapMs: 0, follows: false }, { maxGapMs: 30, follows: true }]) expect(quietWindow({ kind: "fixed", ms: 200 }, burst)).toBe(200);
  });
});

describe("ChangeQueue, adaptive (the default)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A queue on the fake clock, and how many batches it gave (taking each as it settles). */
  function fakeQueue() {
    vi.useFakeTimers();
    const q = new ChangeQueue({ kind: "adaptive" }, () => Date.now());
    const batches: string[][] = [];
    const loop = async () => {
      for (;;) {
        await q.settled();
        batches.push(q.take());
      }
    };
    void loop();
    return { q, batches };
  }

  it("a save (write a temp file, rename it: events within 1 ms) is one batch, taken QUIET_MIN_MS after its last event", async () => {
    const { q, batches } = fakeQueue();
    q.changed("app.py.tmp");
    await vi.advanceTimersByTimeAsync(1);
    q.changed("app.py.tmp");
    q.changed("app.py");
    await vi.advanceTimersByTimeAsync(QUIET_MIN_MS - 1);
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([["app.py", "app.py.tmp"]]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(batches).toHaveLength(1);
  });

  it.each([
    ["in a tight loop (a checkout)", () => 0],
    ["with gaps of 1-5 ms", (i: number) => 1 + (i % 5)],
    // Past QUIET_MIN_MS: the window grows with the gaps seen.
    ["with gaps of 1-10 ms", (i: number) => 1 + (i % 10)],
  ])("500 files written %s are one batch", async (_what, gap) => {
    const { q, batches } = fakeQueue();
    for (let i = 0; i < 500; i++) {
      q.changed(`f${String(i).padStart(3, "0")}`);
      await vi.advanceTimersByTimeAsync(gap(i));
    }
    await vi.advanceTimersByTimeAsync(QUIET_MAX_MS);
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(500);
  });

  it("a burst with one gap past its window gives two batches: the rest of it waits the longest window", async () => {
    const { q, batches } = fakeQueue();
    q.changed("a");
    await vi.advanceTimersByTimeAsync(QUIET_MIN_MS + 2); // a stall: the first batch goes
    expect(batches).toEqual([["a"]]);
    // The burst goes on with gaps of up to 40 ms, each shorter than QUIET_MAX_MS.
    for (const [i, g] of [3, 40, 20, 45, 1].entries()) {
      q.changed(`b${i}`);
      await vi.advanceTimersByTimeAsync(g);
    }
    expect(batches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(QUIET_MAX_MS);
    expect(batches).toEqual([["a"], ["b0", "b1", "b2", "b3", "b4"]]);
  });

  it("a change well after the last batch is a new save, with the short window again", async () => {
    const { q, batches } = fakeQueue();
    q.changed("a");
    await vi.advanceTimersByTimeAsync(QUIET_MIN_MS);
    await vi.advanceTimersByTimeAsync(QUIET_MAX_MS);
    q.changed("a");
    await vi.advanceTimersByTimeAsync(QUIET_MIN_MS);
    expect(batches).toEqual([["a"], ["a"]]);
  });
});
