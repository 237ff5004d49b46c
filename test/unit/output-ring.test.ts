// The output ring: the last `capacity` bytes by absolute offset, and where the last N lines begin.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ByteRing } from "../../src/output/ring.js";

describe("ByteRing", () => {
  it("holds everything while it fits, by absolute offset", () => {
    const r = new ByteRing(16);
    r.append(Buffer.from("hello "));
    r.append(Buffer.from("world"));
    expect(r.total).toBe(11);
    expect(r.start).toBe(0);
    expect(r.since(0).toString()).toBe("hello world");
    expect(r.since(6).toString()).toBe("world");
    expect(r.since(11).length).toBe(0);
  });

  it("keeps the last capacity bytes across wraps, and clamps an offset it no longer holds", () => {
    const r = new ByteRing(8);
    r.append(Buffer.from("abcdef"));
    r.append(Buffer.from("ghij"));
    expect(r.start).toBe(2);
    expect(r.since(0).toString()).toBe("cdefghij");
    r.append(Buffer.from("0123456789ABC"));
    expect(r.since(0).toString()).toBe("6789ABC".padStart(8, "5"));
    expect(r.total).toBe(23);
  });

  it("counts skipped bytes before a chunk that fills it", () => {
    const r = new ByteRing(4);
    r.append(Buffer.from("wxyz"), 100);
    expect(r.total).toBe(104);
    expect(r.since(0).toString()).toBe("wxyz");
    expect(() => r.append(Buffer.from("ab"), 1)).toThrow(RangeError);
  });

  it("appends straight from a reader, across the wrap, and tells its last byte", () => {
    const r = new ByteRing(8);
    r.append(Buffer.from("abcdef"));
    const src = Buffer.from("ghijk\n");
    let at = 0;
    const n = r.appendFrom(src.length, (dst) => {
      const m = Math.min(dst.length, src.length - at);
      src.copy(dst, 0, at, at + m);
      at += m;
      return m;
    });
    expect(n).toBe(6);
    expect(r.since(0).toString()).toBe("efghijk\n");
    expect(r.last()).toBe(0x0a);
    r.skip(100);
    expect(r.total).toBe(112);
    expect(new ByteRing(4).last()).toBe(-1);
  });

  it("finds where the last N lines begin, an unterminated last line counting as one", () => {
    const r = new ByteRing(64);
    r.append(Buffer.from("one\ntwo\nthree\n"));
    expect(r.since(r.lineOffset(1)).toString()).toBe("three\n");
    expect(r.since(r.lineOffset(2)).toString()).toBe("two\nthree\n");
    expect(r.since(r.lineOffset(10)).toString()).toBe("one\ntwo\nthree\n");
    expect(r.since(r.lineOffset(0)).toString()).toBe("");
    r.append(Buffer.from("four"));
    expect(r.since(r.lineOffset(1)).toString()).toBe("four");
    expect(r.since(r.lineOffset(2)).toString()).toBe("three\nfour");
  });

  it("is the tail of everything appended, for any chunking", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 64 }), fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 30 }), (cap, chunks) => {
      const r = new ByteRing(cap);
      for (const c of chunks) r.append(c);
      const all = Buffer.concat(chunks);
      expect(r.total).toBe(all.length);
      expect(r.since(0).equals(all.subarray(Math.max(0, all.length - cap)))).toBe(true);
    }));
  });
});
