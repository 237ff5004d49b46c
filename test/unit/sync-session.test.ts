// The sender's session lifecycle and its debouncing, with no transport and no clock: the pure
// transitions of session-state.ts read as a table, and ChangeQueue under fake timers.
import { afterEach, describe, expect, it, vi } from "vitest";
import { ChangeQueue } from "../../src/sync/change-queue.js";
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

describe("ChangeQueue (the debounce)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("settles only once no change has come for the debounce time, and a batch takes every path, parents first", async () => {
    vi.useFakeTimers();
    const q = new ChangeQueue(50);
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
    const q = new ChangeQueue(50);
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
    const q = new ChangeQueue(50);
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
