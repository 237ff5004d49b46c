// Pretty log lines on a TTY: `HH:MM:SS.mmm LEVEL pidone: event key=value ...`, one line each.
import { afterEach, describe, expect, it, vi } from "vitest";
import { prettyLine } from "../../src/log.js";

const T = Date.UTC(2024, 0, 2, 12, 0, 1, 234);
const line = (rec: Record<string, unknown>) => `${JSON.stringify({ level: 30, time: T, ...rec })}\n`;

afterEach(() => {
  vi.useRealTimers();
});

describe("prettyLine", () => {
  it("renders time, level, event and fields in order", () => {
    expect(prettyLine(line({ event: "restart", source: "signal", oldPid: 6, newPid: 7 }))).toBe(
      "12:00:01.234 INFO  pidone: restart source=signal oldPid=6 newPid=7\n",
    );
  });

  it.each([
    [10, "TRACE"], [20, "DEBUG"], [30, "INFO "], [40, "WARN "], [50, "ERROR"], [60, "FATAL"], [35, "35   "],
  ])("level %i -> %j", (level, label) => {
    expect(prettyLine(line({ level, event: "x" }))).toBe(`12:00:01.234 ${label} pidone: x\n`);
  });

  it("falls back to msg when there is no event", () => {
    expect(prettyLine(line({ msg: "hello", a: 1 }))).toBe("12:00:01.234 INFO  pidone: hello a=1\n");
  });

  it("prefers event over msg, and neither is repeated as a field", () => {
    expect(prettyLine(line({ event: "ready", msg: "ignored" }))).toBe("12:00:01.234 INFO  pidone: ready\n");
  });

  it("quotes strings with whitespace and JSON-encodes everything else", () => {
    const out = prettyLine(line({
      event: "e", reason: "no such file", path: "/a/b", n: 3, ok: true, none: null, list: [1, 2], obj: { code: 1, signal: null },
    }));
    expect(out).toBe(
      '12:00:01.234 INFO  pidone: e reason="no such file" path=/a/b n=3 ok=true none=null list=[1,2] obj={"code":1,"signal":null}\n',
    );
  });

  it("keeps a multi-line value on one line", () => {
    const out = prettyLine(line({ event: "internal-error", error: "Error: boom\n    at x (y.js:1:2)" }));
    expect(out).toBe('12:00:01.234 INFO  pidone: internal-error error="Error: boom\\n    at x (y.js:1:2)"\n');
    expect(out.indexOf("\n")).toBe(out.length - 1);
  });

  it("uses the current time when the record has none", () => {
    vi.useFakeTimers();
    vi.setSystemTime(Date.UTC(2024, 5, 1, 23, 59, 58, 7));
    expect(prettyLine(JSON.stringify({ level: 40, event: "x" }))).toBe("23:59:58.007 WARN  pidone: x\n");
  });

  it("passes a line that is not JSON through unchanged", () => {
    expect(prettyLine("not json\n")).toBe("not json\n");
    expect(prettyLine('{"level":30,')).toBe('{"level":30,');
  });
});

describe("createDeferredLogger", () => {
  it("has every Logger method src/ calls, before pino is loaded (a missing one was an internal error at the first SIGCHLD)", async () => {
    const { createDeferredLogger } = await import("../../src/log.js");
    const { readdirSync, readFileSync, statSync } = await import("node:fs");
    const path = await import("node:path");
    const used = new Set<string>();
    const walk = (dir: string) => {
      for (const f of readdirSync(dir)) {
        const p = path.join(dir, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith(".ts")) for (const m of readFileSync(p, "utf8").matchAll(/\blog\.([a-zA-Z]+)\(/g)) used.add(m[1] as string);
      }
    };
    walk(path.join(__dirname, "../../src"));
    const { log } = createDeferredLogger("info", "json");
    expect(used.size).toBeGreaterThan(3);
    for (const m of used) expect(typeof (log as unknown as Record<string, unknown>)[m], `log.${m}`).toBe("function");
    expect(log.isLevelEnabled("debug")).toBe(false);
    expect(log.isLevelEnabled("warn")).toBe(true);
  });
});
