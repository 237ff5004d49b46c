// Every exit-code table, and the only outcome -> number mapping: the app's code, 128 + signal
// number, 127/126 for commands that cannot be run, 1 for pidone's own failure.
import { describe, expect, it } from "vitest";
import { CLIENT_EXIT, EXIT, RECEIVE_EXIT, SYNC_EXIT, exitCode } from "../../src/exit-code.js";
import type { ExitStatus } from "../../src/exit-status.js";
import type { Outcome } from "../../src/supervisor/events.js";

const code = (n: number): ExitStatus => ({ code: n, signal: null });
const sig = (s: string): ExitStatus => ({ code: null, signal: s });

describe("exitCode", () => {
  const rows: [string, Outcome, number][] = [
    ["app exited 0", { kind: "app-exited", status: code(0) }, 0],
    ["app exited 42", { kind: "app-exited", status: code(42) }, 42],
    ["app killed by SIGKILL", { kind: "app-exited", status: sig("SIGKILL") }, 137],
    ["app stopped by SIGTERM", { kind: "app-exited", status: sig("SIGTERM") }, 143],
    ["app killed by a real-time signal", { kind: "app-exited", status: sig("SIG40") }, 168],
    ["gave up after exit 3", { kind: "gave-up", status: code(3), restarts: 5 }, 3],
    ["gave up after SIGSEGV", { kind: "gave-up", status: sig("SIGSEGV"), restarts: 5 }, 139],
    ["command not found", { kind: "spawn-failed", errno: "ENOENT", message: "x" }, EXIT.notFound],
    ["command not executable", { kind: "spawn-failed", errno: "EACCES", message: "x" }, EXIT.cannotExecute],
    ["stopped in backoff after exit 1", { kind: "stopped-idle", signal: "SIGTERM", last: code(1) }, 1],
    ["stopped in backoff after SIGSEGV", { kind: "stopped-idle", signal: "SIGINT", last: sig("SIGSEGV") }, 139],
    ["stopped before any app ran, SIGTERM", { kind: "stopped-idle", signal: "SIGTERM", last: null }, 143],
    ["stopped before any app ran, SIGINT", { kind: "stopped-idle", signal: "SIGINT", last: null }, 130],
    ["internal error", { kind: "internal-error", message: "boom" }, EXIT.internalError],
  ];

  it.each(rows)("%s -> %i", (_name, outcome, expected) => {
    expect(exitCode(outcome)).toBe(expected);
  });
});

describe("the exit-code tables", () => {
  it("each command's codes are the documented ones", () => {
    expect(EXIT).toEqual({ internalError: 1, usage: 2, cannotExecute: 126, notFound: 127 });
    expect(CLIENT_EXIT).toEqual({ ok: 0, failed: 1, usage: 2, unreachable: 3, timeout: 4, crashed: 5 });
    expect(SYNC_EXIT).toEqual({ ok: 0, failed: 1, usage: 2, transport: 3 });
    expect(RECEIVE_EXIT).toEqual({ ok: 0, refused: 1, usage: 2, interrupted: 3 });
  });
});
