// The only outcome -> number mapping: the app's code, 128 + signal number, 127/126 for commands
// that cannot be run, 1 for pidone's own failure.
import { describe, expect, it } from "vitest";
import { constants } from "node:os";
import { EXIT, describeStatus, exitCode, spawnFailureCode, statusCode } from "../../src/exit-code.js";
import type { ExitStatus, Outcome } from "../../src/supervisor/events.js";

const code = (n: number): ExitStatus => ({ code: n, signal: null });
const sig = (s: string): ExitStatus => ({ code: null, signal: s });

describe("statusCode", () => {
  it.each([0, 1, 3, 126, 127, 255])("exit %i -> %i", (n) => {
    expect(statusCode(code(n))).toBe(n);
  });

  it.each([
    ["SIGHUP", 129], ["SIGINT", 130], ["SIGQUIT", 131], ["SIGABRT", 134], ["SIGKILL", 137],
    ["SIGSEGV", 139], ["SIGPIPE", 141], ["SIGTERM", 143], ["SIGUSR1", 138], ["SIGSYS", 159],
  ])("killed by %s -> %i", (name, expected) => {
    expect(statusCode(sig(name))).toBe(expected);
  });

  // Node reports a signal by the first name the platform gives its number (SIGABRT, not SIGIOT).
  const reported = Object.entries(constants.signals as Record<string, number>)
    .filter(([, n], i, all) => all.findIndex(([, m]) => m === n) === i);

  it.each(reported)("killed by %s (signal %i) -> 128 + its number", (name, n) => {
    expect(statusCode(sig(name))).toBe(128 + n);
  });
});

describe("spawnFailureCode", () => {
  it.each([
    ["ENOENT", 127], ["ENOTDIR", 127],
    ["EACCES", 126], ["ENOEXEC", 126], ["EISDIR", 126], ["EPERM", 126],
  ])("%s -> %i", (errno, expected) => {
    expect(spawnFailureCode(errno)).toBe(expected);
  });
});

describe("describeStatus", () => {
  it("formats a code, a signal, and no status", () => {
    expect(describeStatus(code(3))).toBe("exit 3");
    expect(describeStatus(code(0))).toBe("exit 0");
    expect(describeStatus(sig("SIGTERM"))).toBe("signal SIGTERM");
    expect(describeStatus(null)).toBeNull();
  });
});

describe("exitCode", () => {
  const rows: [string, Outcome, number][] = [
    ["app exited 0", { kind: "app-exited", status: code(0) }, 0],
    ["app exited 42", { kind: "app-exited", status: code(42) }, 42],
    ["app killed by SIGKILL", { kind: "app-exited", status: sig("SIGKILL") }, 137],
    ["app stopped by SIGTERM", { kind: "app-exited", status: sig("SIGTERM") }, 143],
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

  it("pidone's own codes are the documented ones", () => {
    expect(EXIT).toEqual({ internalError: 1, usage: 2, cannotExecute: 126, notFound: 127 });
  });
});
