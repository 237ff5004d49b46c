// How a process ended: Linux's signal table, a wait status and a waitid siginfo decoded, the one
// text form, and the shell's numbers (128 + signal, 126/127).
import { describe, expect, it } from "vitest";
import { constants } from "node:os";
import {
  CLD, SIGNALS, decodeSiginfo, decodeWaitStatus, describeStatus, fromNodeExit, signalName, signalNumber, spawnFailureCode,
  statusCode, type ExitStatus,
} from "../../src/exit-status.js";

const code = (n: number): ExitStatus => ({ code: n, signal: null });
const sig = (s: string): ExitStatus => ({ code: null, signal: s });

/** Linux's signals 1-31 by number, as `kill -l` lists them. */
const LINUX = [
  "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV",
  "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN",
  "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
].map((name, i) => [name, i + 1] as const);

describe("the signal table", () => {
  it.each(LINUX)("%s is %i, both ways", (name, n) => {
    expect(SIGNALS[name as keyof typeof SIGNALS]).toBe(n);
    expect(signalName(n)).toBe(name);
    expect(signalNumber(name)).toBe(n);
  });

  it("holds exactly Linux's 31 named signals", () => {
    expect(Object.entries(SIGNALS)).toEqual(LINUX);
  });

  // Node names a signal by the first name the platform gives its number: the table must agree.
  const nodeNames = Object.entries(constants.signals as Record<string, number>);
  it.each(nodeNames)("Node's %s (%i) has the same number here", (name, n) => {
    expect(signalNumber(name)).toBe(n);
  });

  it("aliases give their number; the name for that number is the kernel's", () => {
    expect(signalNumber("SIGIOT")).toBe(6);
    expect(signalNumber("SIGPOLL")).toBe(29);
    expect(signalName(6)).toBe("SIGABRT");
    expect(signalName(29)).toBe("SIGIO");
  });

  it("a signal the table does not name is SIG<n>, and back", () => {
    expect(signalName(34)).toBe("SIG34");
    expect(signalName(64)).toBe("SIG64");
    expect(signalNumber("SIG34")).toBe(34);
    expect(signalNumber("SIGNOPE")).toBeNull();
    expect(signalNumber("SIG0")).toBeNull();
    expect(signalNumber("")).toBeNull();
  });
});

describe("decodeWaitStatus (waitpid's int)", () => {
  it.each([
    [0x0000, code(0)],
    [0x0300, code(3)],
    [0xff00, code(255)],
    [0x000f, sig("SIGTERM")],
    [0x0009, sig("SIGKILL")],
    [0x008b, sig("SIGSEGV")], // 11 with the core-dump bit
    [0x0086, sig("SIGABRT")], // 6 with the core-dump bit
    [0x0022, sig("SIG34")],
  ])("%i -> %j", (status, expected) => {
    expect(decodeWaitStatus(status)).toEqual(expected);
  });
});

describe("decodeSiginfo (waitid's si_code, si_status)", () => {
  it.each([
    [CLD.EXITED, 0, code(0)],
    [CLD.EXITED, 7, code(7)],
    [CLD.KILLED, 15, sig("SIGTERM")],
    [CLD.KILLED, 9, sig("SIGKILL")],
    [CLD.DUMPED, 11, sig("SIGSEGV")],
    [CLD.DUMPED, 6, sig("SIGABRT")],
  ])("si_code %i, si_status %i -> %j", (siCode, siStatus, expected) => {
    expect(decodeSiginfo(siCode, siStatus)).toEqual(expected);
  });

  it("a trap, stop or continue is not an end", () => {
    expect(decodeSiginfo(4, 5)).toBeNull(); // CLD_TRAPPED
    expect(decodeSiginfo(5, 19)).toBeNull(); // CLD_STOPPED
    expect(decodeSiginfo(6, 18)).toBeNull(); // CLD_CONTINUED
  });
});

describe("fromNodeExit (a child's 'exit' in Node)", () => {
  it("a code, a signal's name, and Node's empty name for a signal it does not know", () => {
    expect(fromNodeExit(3, null)).toEqual(code(3));
    expect(fromNodeExit(null, "SIGTERM")).toEqual(sig("SIGTERM"));
    expect(fromNodeExit(0, "")).toEqual(code(0));
    expect(fromNodeExit(null, null)).toEqual(code(0));
  });
});

describe("describeStatus", () => {
  it("formats a code, a signal, and no status", () => {
    expect(describeStatus(code(3))).toBe("exit 3");
    expect(describeStatus(code(0))).toBe("exit 0");
    expect(describeStatus(sig("SIGTERM"))).toBe("signal SIGTERM");
    expect(describeStatus(sig("SIG34"))).toBe("signal SIG34");
    expect(describeStatus(null)).toBeNull();
  });
});

describe("statusCode", () => {
  it.each([0, 1, 3, 126, 127, 255])("exit %i -> %i", (n) => {
    expect(statusCode(code(n))).toBe(n);
  });

  it.each(LINUX)("killed by %s (%i) -> 128 + its number", (name, n) => {
    expect(statusCode(sig(name))).toBe(128 + n);
  });

  it.each([["SIGIOT", 134], ["SIGPOLL", 157], ["SIG34", 162], ["SIG64", 192]])("killed by %s -> %i", (name, expected) => {
    expect(statusCode(sig(name))).toBe(expected);
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
