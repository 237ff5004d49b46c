// The receiver's forwarding of the app's output: in frames of at most MAX_OUTPUT_CHUNK, and
// against a transport that takes nothing, bounded: what does not fit is dropped, counted, and
// reported as one skipped notice once the transport takes bytes again.
import { describe, expect, it } from "vitest";
import { FrameDecoder, MAX_OUTPUT_CHUNK, decodeReceiverMessage, encodeFrame } from "../../src/sync/protocol.js";
import { MAX_BACKLOG, OutputForwarder } from "../../src/sync/output-follow.js";

/** A transport whose pipe holds what was written until `drain()` takes it all. */
function slowTransport() {
  let waiting: Buffer[] = [];
  let backlog = 0;
  const delivered: Buffer[] = [];
  return {
    sink: {
      send: (header: object, payload?: Buffer) => {
        const frame = encodeFrame(header, payload);
        waiting.push(frame);
        backlog += frame.length;
      },
      backlog: () => backlog,
    },
    drain() {
      delivered.push(...waiting);
      waiting = [];
      backlog = 0;
    },
    get backlog() {
      return backlog;
    },
    messages() {
      const dec = new FrameDecoder();
      return dec.push(Buffer.concat(delivered)).map(decodeReceiverMessage);
    },
  };
}

describe("OutputForwarder", () => {
  it("splits a large write into frames of at most MAX_OUTPUT_CHUNK, in order, bytes unchanged", () => {
    const t = slowTransport();
    const fwd = new OutputForwarder(3, t.sink);
    const bytes = Buffer.from(Array.from({ length: MAX_OUTPUT_CHUNK * 2 + 10 }, (_, i) => i % 251));
    fwd.data(bytes);
    t.drain();
    const msgs = t.messages();
    expect(msgs.map((m) => (m.t === "output" ? m.data.length : -1))).toEqual([MAX_OUTPUT_CHUNK, MAX_OUTPUT_CHUNK, 10]);
    expect(Buffer.concat(msgs.map((m) => (m.t === "output" ? m.data : Buffer.alloc(0)))).equals(bytes)).toBe(true);
  });

  it("a transport that takes nothing holds at most MAX_BACKLOG plus one write, however much the app prints; then one skipped marker with the exact count", () => {
    const t = slowTransport();
    const fwd = new OutputForwarder(1, t.sink);
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    let maxBacklog = 0;
    const writes = (200 * 1024 * 1024) / chunk.length; // 200 MiB printed while nothing is taken
    for (let i = 0; i < writes; i++) {
      fwd.data(chunk);
      maxBacklog = Math.max(maxBacklog, t.backlog);
    }
    expect(maxBacklog).toBeLessThanOrEqual(MAX_BACKLOG + chunk.length + 200);
    t.drain();
    const sentBytes = t.messages().reduce((n, m) => n + (m.t === "output" ? m.data.length : 0), 0);
    expect(sentBytes).toBeGreaterThan(MAX_BACKLOG - chunk.length);
    expect(sentBytes).toBeLessThanOrEqual(MAX_BACKLOG + chunk.length);
    expect(fwd.pending).toBe(writes * chunk.length - sentBytes);
    fwd.data(Buffer.from("after\n"));
    t.drain();
    const msgs = t.messages();
    const skipped = msgs.filter((m) => m.t === "skipped");
    expect(skipped).toEqual([{ t: "skipped", id: 1, bytes: writes * chunk.length - sentBytes }]);
    // The marker comes right before the first output after the gap.
    const last = msgs.slice(-2);
    expect(last[0]?.t).toBe("skipped");
    expect(last[1]).toMatchObject({ t: "output", id: 1 });
    expect(fwd.pending).toBe(0);
  });

  it("bytes lost before the receiver (pidone's ring overwrote them) are reported in the same marker", () => {
    const t = slowTransport();
    const fwd = new OutputForwarder(2, t.sink);
    fwd.lost(500);
    fwd.flushSkipped();
    t.drain();
    expect(t.messages()).toEqual([{ t: "skipped", id: 2, bytes: 500 }]);
  });
});
