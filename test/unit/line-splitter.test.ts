// The one line splitter (the control socket, the --preload zygote's replies): bounded, any
// chunking gives the same lines.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { LineSplitter, type LineEvent } from "../../src/line-splitter.js";

describe("LineSplitter", () => {
  const lines = (evs: LineEvent[]) => evs.map((e) => (e.kind === "line" ? e.line : "<too-long>"));

  it("splits across chunks, strips CR, keeps multi-byte characters whole", () => {
    const s = new LineSplitter(100);
    const bytes = Buffer.from("ab\r\ncdé\nf");
    const out: LineEvent[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...s.push(bytes.subarray(i, i + 1)));
    expect(lines(out)).toEqual(["ab", "cdé"]);
    expect(lines(s.end())).toEqual(["f"]);
    expect(s.end()).toEqual([]);
  });

  it("reports a line over the bound once, without holding more than the bound", () => {
    const s = new LineSplitter(10);
    expect(lines(s.push(Buffer.from("12345")))).toEqual([]);
    expect(lines(s.push(Buffer.from("678901\nnext\n")))).toEqual(["<too-long>"]);
    expect(s.push(Buffer.from("more\n"))).toEqual([]);
    expect(s.end()).toEqual([]);
  });

  it("a line of exactly the bound passes", () => {
    const s = new LineSplitter(4);
    expect(lines(s.push(Buffer.from("abcd\nabcde\n")))).toEqual(["abcd", "<too-long>"]);
  });

  it("any chunking of a stream gives the same lines as splitting it whole", () => {
    fc.assert(fc.property(fc.array(fc.constantFrom("a", "b", "\n", "é", "\r"), { maxLength: 200 }), fc.array(fc.nat(20), { maxLength: 30 }), (chars, cuts) => {
      const whole = Buffer.from(chars.join(""));
      const s = new LineSplitter(1000);
      const out: LineEvent[] = [];
      let at = 0;
      for (const c of cuts) {
        out.push(...s.push(whole.subarray(at, at + c)));
        at = Math.min(whole.length, at + c);
      }
      out.push(...s.push(whole.subarray(at)), ...s.end());
      const raw = whole.toString("utf8").split("\n");
      if (raw.at(-1) === "") raw.pop();
      const expected = raw.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
      expect(lines(out)).toEqual(expected);
    }), { numRuns: 500 });
  });
});
