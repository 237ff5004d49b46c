// The control server's restart answer against a fake supervisor: which outcome each course of
// events gives (ready by settle, crashed with its output tail, kept with --overlap), and that a
// crash is answered only once its leftovers are swept. Real unix socket, no processes.
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { startControlServer } from "../../src/control/server.js";
import { CLIENT_EXIT } from "../../src/exit-code.js";
import { request } from "../../src/control/client.js";
import type { Event, StatusSnapshot } from "../../src/supervisor/events.js";

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

const RUNNING: StatusSnapshot = {
  state: "running", pid: 100, generation: 1, startedAt: 0, restarts: 0, lastExit: null, lastRestartReason: null,
  failedRestarts: 0, lastRestartFailure: null, lastCrash: null,
};

/** A supervisor that answers a restart request by playing `script` (snapshots, one per tick). */
async function serve(
  script: (at: number) => Partial<StatusSnapshot>[], opts: { overlap?: boolean; tails?: Record<number, string>; onTail?: (s: StatusSnapshot) => void } = {},
) {
  const dir = mkdtempSync(path.join(tmpdir(), "pidone-ctl-unit-"));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, "ctl.sock");
  let status = RUNNING;
  const listeners = new Set<(s: StatusSnapshot) => void>();
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const dispatch = (e: Event) => {
    if (e.type !== "restart-requested") return;
    const steps = script(now());
    let i = 0;
    const next = () => {
      const step = steps[i++];
      if (!step) return;
      status = { ...status, ...step };
      for (const l of listeners) l(status);
      setTimeout(next, 5);
    };
    setTimeout(next, 5);
  };
  closers.push(await startControlServer(socket, {
    dispatch, now, status: () => status, log: pino({ level: "silent" }),
    subscribe: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    overlap: opts.overlap,
    outputTail: (g) => {
      opts.onTail?.(status);
      return opts.tails?.[g] ?? null;
    },
  }));
  return socket;
}

const restart = (socket: string, settleMs = 50) => request(socket, { cmd: "restart", timeoutMs: 5000, wait: "ready", settleMs }, 7000);
const crash = (generation: number, pid: number, at: number) => ({ generation, pid, status: { code: 1, signal: null }, upMs: 60, at, afterChange: true });

describe("control server: the restart outcome", () => {
  it("no readiness check: up once the new generation stayed up through the settle window", async () => {
    const socket = await serve((at) => [{ state: "stopping", pid: null }, { state: "running", pid: 200, generation: 2, startedAt: at + 10 }]);
    const r = await restart(socket, 60);
    expect(r.code).toBe(CLIENT_EXIT.ok);
    expect(r.response).toMatchObject({ ok: true, pid: 200, generation: 2, outcome: { kind: "up", pid: 200, generation: 2, oldPid: 100 } });
    const o = (r.response as { outcome: { upMs: number } }).outcome;
    expect(o.upMs).toBeGreaterThanOrEqual(60);
  });

  it("the new generation exits: crashed, with its status and output tail, answered only once it is swept (exit code 5)", async () => {
    const statesAtTail: string[] = [];
    const socket = await serve((at) => {
      return [
        { state: "running", pid: 200, generation: 2, startedAt: at },
        { state: "stopping", pid: null, lastExit: { code: 1, signal: null }, lastCrash: crash(2, 200, at + 20) },
        { state: "stopping" }, { state: "stopping" }, { state: "stopping" },
        { state: "broken" },
      ];
    }, { tails: { 2: "Traceback (most recent call last):\nRuntimeError: BROKEN-EDIT\n" }, onTail: (s) => statesAtTail.push(s.state) });
    const r = await restart(socket, 5000);
    expect(r.code).toBe(CLIENT_EXIT.crashed);
    expect(r.response).toEqual({
      ok: false,
      error: "the new app process (pid 200) exited (exit 1) after 60 ms, before it was ready; pidone waits for the next change",
      outcome: { kind: "crashed", pid: 200, generation: 2, oldPid: 100, ms: expect.any(Number), status: "exit 1", upMs: 60, tail: "Traceback (most recent call last):\nRuntimeError: BROKEN-EDIT\n" },
    });
    // Four ticks of "stopping" came first: the tail was read, and the answer sent, at "broken".
    expect(statesAtTail).toEqual(["broken"]);
  });

  it("--overlap, the next generation exits: kept, the old pid serves on, with the next one's tail (exit code 5)", async () => {
    const socket = await serve(() => [
      { failedRestarts: 1, lastRestartFailure: { reason: "exited before it was ready", status: { code: 1, signal: null }, generation: 2, pid: 200 } },
    ], { overlap: true, tails: { 2: "boom\n" } });
    const r = await restart(socket);
    expect(r.code).toBe(CLIENT_EXIT.crashed);
    expect(r.response).toMatchObject({
      ok: false, error: "the new app process exited before it was ready (exit 1); pid 100 still serves",
      outcome: { kind: "kept", pid: 200, generation: 2, oldPid: 100, reason: "exited before it was ready", status: "exit 1", tail: "boom\n" },
    });
  });

  it("--overlap, the next generation never ready: kept without a status (exit code 1)", async () => {
    const socket = await serve(() => [
      { failedRestarts: 1, lastRestartFailure: { reason: "not ready within 3000 ms", status: null, generation: 2, pid: 200 } },
    ], { overlap: true });
    const r = await restart(socket);
    expect(r.code).toBe(CLIENT_EXIT.failed);
    expect(r.response).toMatchObject({ ok: false, outcome: { kind: "kept", status: null, tail: null } });
  });

  it("--overlap, the handover: ready", async () => {
    const socket = await serve((at) => [{ state: "handover", pid: 200, generation: 2, startedAt: at }], { overlap: true });
    const r = await restart(socket);
    expect(r.response).toMatchObject({ ok: true, pid: 200, outcome: { kind: "ready", how: "handover", oldPid: 100 } });
  });

  it("the timeout passes while the new generation runs but has not stayed up through the settle window: the answer names it", async () => {
    const socket = await serve((at) => [{ state: "running", pid: 200, generation: 2, startedAt: at + 10 }]);
    const r = await request(socket, { cmd: "restart", timeoutMs: 300, wait: "ready", settleMs: 5000 }, 2300);
    expect(r.code).toBe(CLIENT_EXIT.failed);
    expect(r.response).toEqual({ ok: false, error: "the new app process (pid 200) was not up through the settle window (5000 ms) within 300 ms" });
  });

  it("a crash of an older generation is not this restart's news", async () => {
    const socket = await serve((at) => [
      { lastCrash: crash(1, 100, at), state: "broken", pid: null },
      { state: "running", pid: 200, generation: 2, startedAt: at + 10 },
    ]);
    const r = await restart(socket, 30);
    expect(r.response).toMatchObject({ ok: true, outcome: { kind: "up", pid: 200 } });
  });
});
