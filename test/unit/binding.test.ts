// src/sys/binding.ts: isatty agrees with node:tty's, including for what tty_wrap would abort on.
import { describe, expect, it } from "vitest";
import { openSync, closeSync } from "node:fs";
import tty from "node:tty";
import { isatty, quietBinding } from "../../src/sys/binding.js";

describe("quiet bindings", () => {
  it("isatty is node:tty's isatty, for open, closed and impossible descriptors", () => {
    const fd = openSync("/dev/null", "r");
    try {
      for (const n of [0, 1, 2, fd, 999, -1, 1.5, Number.NaN, 2 ** 31]) expect(isatty(n), String(n)).toBe(tty.isatty(n));
    } finally {
      closeSync(fd);
    }
  });

  it("this node has process_wrap's Process and tty_wrap's isTTY (the fast paths are taken here)", () => {
    expect(typeof quietBinding<{ Process?: unknown }>("process_wrap")?.Process).toBe("function");
    expect(typeof quietBinding<{ isTTY?: unknown }>("tty_wrap")?.isTTY).toBe("function");
  });
});
