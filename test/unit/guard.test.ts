// The sources guard: a source that throws, rejects or fails later is turned off with one
// warning naming it; the others keep running; nothing is thrown to the supervisor.
import { describe, expect, it } from "vitest";
import type { Logger } from "pino";
import { Sources } from "../../src/sources/guard.js";

function logger() {
  const lines: Record<string, unknown>[] = [];
  const log = { warn: (o: Record<string, unknown>) => lines.push(o) } as unknown as Logger;
  return { log, lines };
}

describe("Sources guard", () => {
  it("a starter that throws or rejects: off, one warning with the source and errno, never thrown", async () => {
    const { log, lines } = logger();
    const s = new Sources(log);
    const err = Object.assign(new Error("inotify"), { code: "ENOSPC" });
    expect(await s.start("trigger-file", () => { throw err; })).toBe(false);
    expect(await s.start("watch", () => Promise.reject(new Error("boom")))).toBe(false);
    expect(await s.start("ok", () => () => {})).toBe(true);
    expect(s.names()).toEqual(["ok"]);
    expect(lines).toEqual([
      expect.objectContaining({ event: "source-failed", source: "trigger-file", error: "ENOSPC" }),
      expect.objectContaining({ event: "source-failed", source: "watch", error: "boom" }),
    ]);
  });

  it("a source that fails later is closed once and the others stay on", async () => {
    const { log, lines } = logger();
    const s = new Sources(log);
    let fail: (e: unknown) => void = () => {};
    let closed = 0;
    await s.start("watch", (f) => { fail = f; return () => { closed++; }; });
    await s.start("other", () => () => {});
    fail(Object.assign(new Error("x"), { code: "EMFILE" }));
    fail(new Error("again"));
    expect(closed).toBe(1);
    expect(s.names()).toEqual(["other"]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ source: "watch", error: "EMFILE" });
  });

  it("a failure reported while starting turns the source off once started; a closer that throws is contained", async () => {
    const { log, lines } = logger();
    const s = new Sources(log);
    expect(await s.start("early", (f) => { f(new Error("during start")); return () => { throw new Error("close"); }; })).toBe(false);
    expect(s.names()).toEqual([]);
    expect(lines).toHaveLength(1);
    s.closeAll();
  });
});
