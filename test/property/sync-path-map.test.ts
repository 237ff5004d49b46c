// Property: the output path mapping rewrites exactly the whole path tokens under REMOTE_DIR and
// leaves every other character where it was.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { pathMapper } from "../../src/sync/path-map.js";

const REMOTE = "/app";
const LOCAL = "../my app";
const map = pathMapper([REMOTE], LOCAL);
const pathChars = fc.string({ unit: fc.constantFrom("a", "b", "Z", "0", "_", ".", "-", "/"), maxLength: 20 });
const breaks = fc.constantFrom(" ", "\n", '"', "'", "(", ")", "[", ",", ":", "=", "\t", "<");
const noise = fc.string({ maxLength: 30 }).filter((s) => !s.includes(`${REMOTE}/`));

describe("pathMapper (property)", () => {
  it("text without REMOTE_DIR/ is unchanged", () => {
    fc.assert(fc.property(noise, (s) => map(s) === s), { numRuns: 500 });
  });

  it("a token under REMOTE_DIR between separators becomes the same path under LOCAL_DIR, the rest unchanged", () => {
    fc.assert(fc.property(noise, breaks, pathChars, breaks, noise, (a, b1, rel, b2, z) => {
      const before = `${a}${b1}`;
      expect(map(`${before}${REMOTE}/${rel}${b2}${z}`)).toBe(`${map(before)}${LOCAL}/${rel}${b2}${map(z)}`);
    }), { numRuns: 500 });
  });

  it("REMOTE_DIR inside another name (a path character before it) is never mapped", () => {
    fc.assert(fc.property(fc.constantFrom("a", "Z", "9", "_", ".", "-", "~", "/"), pathChars, (c, rel) => {
      const s = `x${c}${REMOTE}/${rel}`;
      return map(s) === s;
    }), { numRuns: 300 });
  });

  it("REMOTE_DIR as the start of a longer name is never mapped", () => {
    fc.assert(fc.property(fc.constantFrom("2", "s", "_", "-", "."), pathChars, (c, rel) => map(`${REMOTE}${c}/${rel}`) === `${REMOTE}${c}/${rel}`), { numRuns: 300 });
  });

  it("mapping twice is mapping once (the local form is never taken for a remote path)", () => {
    fc.assert(fc.property(fc.array(fc.oneof(noise, breaks, pathChars.map((r) => `${REMOTE}/${r}`)), { maxLength: 8 }), (parts) => {
      const s = parts.join("");
      return map(map(s)) === map(s);
    }), { numRuns: 500 });
  });
});
