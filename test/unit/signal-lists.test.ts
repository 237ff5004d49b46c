// The esbuild banner (src/boot/early-signals.js) cannot import, so it carries its own copy of the
// list of signals pidone handles; a signal in one list only would be dropped at boot or after it.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import vm from "node:vm";
import { constants } from "node:os";
import { HANDLED_SIGNALS } from "../../src/sources/signals.js";

const BANNER = path.resolve(__dirname, "../../src/boot/early-signals.js");

/** Run the banner against a fake process and return the names it listened to. */
function bannerNames(): string[] {
  const listened: string[] = [];
  const context: Record<string, unknown> = { process: { on: (name: string) => listened.push(name), removeListener() {} } };
  context.globalThis = context;
  vm.runInNewContext(readFileSync(BANNER, "utf8"), context);
  expect((context.__pidoneEarlySignals as { names: string[] }).names).toEqual(listened);
  return listened;
}

describe("signal lists", () => {
  it("the early handlers and the signal source handle the same signals, in the same order", () => {
    expect(bannerNames()).toEqual([...HANDLED_SIGNALS]);
  });

  it("no two names share a number (that signal would be forwarded twice)", () => {
    const numbers = HANDLED_SIGNALS.map((s) => constants.signals[s]);
    expect(new Set(numbers).size).toBe(numbers.length);
  });

  it("none of them is SIGCHLD, SIGPIPE or a synchronous fault", () => {
    for (const s of ["SIGCHLD", "SIGPIPE", "SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGSYS", "SIGKILL", "SIGSTOP"]) {
      expect(HANDLED_SIGNALS).not.toContain(s);
    }
  });
});
