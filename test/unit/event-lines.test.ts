// The tests' reader of pidone's log lines, which share stderr with the app's output.
import { describe, expect, it } from "vitest";
import { eventLines } from "../helpers/pidone.js";

describe("eventLines", () => {
  it("finds pidone's line after the app's unfinished one, across chunks, and skips the rest", () => {
    const seen: { event: string }[] = [];
    const feed = eventLines<{ event: string }>((e) => seen.push(e));
    feed('{"level":30,"event":"spawned"}\nWARNING: a development server.');
    feed('{"level":30,"event":"ready","pid":1}\n{"not":"ours"}\n{broken\napp {"level": text}\n{"level":30,"ev');
    feed('ent":"restart"}\n');
    expect(seen).toEqual([{ level: 30, event: "spawned" }, { level: 30, event: "ready", pid: 1 }, { level: 30, event: "restart" }]);
  });
});
