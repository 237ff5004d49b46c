// The receiver's messages the output and the report need: `output` and `skipped` notices and
// the restart outcome, decoded by the one validating decoder: good frames round-trip, hostile
// ones are refused with a ProtocolError (never another exception).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  FrameDecoder, MAX_OUTPUT_CHUNK, MAX_TAIL_CHARS, ProtocolError, decodeReceiverMessage, encodeFrame, isNotice, type RestartOutcome,
} from "../../src/sync/protocol.js";

const decode = (header: object, payload?: Buffer) => {
  const [f] = new FrameDecoder().push(encodeFrame(header, payload));
  return decodeReceiverMessage(f as NonNullable<typeof f>);
};

const GOOD: RestartOutcome[] = [
  { kind: "skipped" },
  { kind: "ready", oldPid: 8, newPid: 10, generation: 3, restartMs: 120, how: "handover" },
  { kind: "ready", oldPid: null, newPid: 10, generation: 1, restartMs: 12.5, how: "http" },
  { kind: "up", oldPid: 8, newPid: 10, generation: 2, restartMs: 310, upMs: 300 },
  { kind: "crashed", oldPid: 8, newPid: 10, generation: 2, restartMs: 70, status: "exit 1", upMs: 60, tail: 'Traceback...\n  File "/app/app.py", line 2\nSyntaxError: x\n' },
  { kind: "crashed", oldPid: null, newPid: null, generation: 2, restartMs: 70, status: "signal 9 (SIGKILL)", upMs: 0, tail: null },
  { kind: "kept", oldPid: 8, newPid: 10, generation: 4, restartMs: 300, reason: "exited", status: "exit 1", tail: "boom\n" },
  { kind: "kept", oldPid: 8, newPid: null, generation: 4, restartMs: 300, reason: "did not become ready", status: null, tail: null },
  { kind: "failed", error: "no pidone is listening" },
];

describe("restart outcomes", () => {
  it.each(GOOD.map((o) => [o.kind, o] as const))("%s round-trips", (_kind, o) => {
    expect(decode({ t: "result", id: 1, restart: o })).toEqual({ t: "result", id: 1, restart: o });
  });

  const up = GOOD[3] as Extract<RestartOutcome, { kind: "up" }>;
  const kept = GOOD[6] as Extract<RestartOutcome, { kind: "kept" }>;
  it.each([
    ["a missing field", { ...up, upMs: undefined }],
    ["an unknown field", { ...up, extra: 1 }],
    ["an unknown kind", { ...up, kind: "fine" }],
    ["a pid of 0", { ...up, newPid: 0 }],
    ["a negative pid", { ...up, oldPid: -1 }],
    ["a pid past pid_max", { ...up, newPid: 2 ** 23 }],
    ["a fractional generation", { ...up, generation: 1.5 }],
    ["a negative time", { ...up, restartMs: -1 }],
    ["kept without the pid that serves", { ...kept, oldPid: null }],
    ["a tail that is not text", { ...kept, tail: ["x"] }],
    ["a tail past its bound", { ...kept, tail: "x".repeat(MAX_TAIL_CHARS + 1) }],
    ["a status past its bound", { ...kept, status: "x".repeat(201) }],
    ["skipped with fields", { kind: "skipped", newPid: 3 }],
    ["an array", [up]],
    ["null", null],
  ])("refuses %s", (_what, restart) => {
    expect(() => decode({ t: "result", id: 1, restart })).toThrow(ProtocolError);
  });
});

describe("output notices", () => {
  it("output carries the app's bytes unchanged (any bytes, up to MAX_OUTPUT_CHUNK)", () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 2000 }), fc.nat(), (bytes, id) => {
      const m = decode({ t: "output", id }, Buffer.from(bytes));
      expect(m.t === "output" && [...m.data]).toEqual([...bytes]);
      expect(isNotice(m)).toBe(true);
    }), { numRuns: 100 });
    expect(decode({ t: "output", id: 1 }, Buffer.alloc(MAX_OUTPUT_CHUNK))).toMatchObject({ t: "output", id: 1 });
  });

  it.each([
    ["an empty output", { t: "output", id: 1 }, Buffer.alloc(0)],
    ["an output past MAX_OUTPUT_CHUNK", { t: "output", id: 1 }, Buffer.alloc(MAX_OUTPUT_CHUNK + 1)],
    ["an output without its batch", { t: "output" }, Buffer.from("x")],
    ["a skipped count that is not a count", { t: "skipped", id: 1, bytes: -3 }, undefined],
    ["a skipped with a payload", { t: "skipped", id: 1, bytes: 3 }, Buffer.from("x")],
    ["a result with a payload", { t: "result", id: 1, restart: { kind: "skipped" } }, Buffer.from("x")],
  ])("refuses %s", (_what, header, payload) => {
    expect(() => decode(header, payload)).toThrow(ProtocolError);
  });

  it("skipped says how many bytes; answers are not notices", () => {
    expect(decode({ t: "skipped", id: 2, bytes: 1234 })).toEqual({ t: "skipped", id: 2, bytes: 1234 });
    expect(isNotice(decode({ t: "applied", id: 1, files: 1, bytes: 1, ms: 1 }))).toBe(false);
  });

  it("any header the decoder accepts as JSON is a message or a ProtocolError", () => {
    fc.assert(fc.property(fc.record({ t: fc.constantFrom("output", "skipped", "result", "crashed"), id: fc.anything(), bytes: fc.anything(), restart: fc.anything() }, { requiredKeys: ["t"] }), fc.uint8Array({ maxLength: 10 }), (h, p) => {
      try {
        decode(h, Buffer.from(p));
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
      }
    }), { numRuns: 500 });
  });
});
