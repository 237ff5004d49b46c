// `pidone logs` on the control socket: the request's validating parser, the answer's head, and
// the frame splitter the client reads the stream with.
import { describe, expect, it } from "vitest";
import { encodeFrame, FrameSplitter, LOGS_FRAME, MAX_LOGS_FRAME, MAX_TAIL_LINES, parseLogsHead, parseRequest } from "../../src/control/protocol.js";

describe("parseRequest: logs", () => {
  it.each([
    ['{"cmd":"logs"}', { cmd: "logs", follow: false }],
    ['{"cmd":"logs","follow":true,"tail":20}', { cmd: "logs", follow: true, tail: 20 }],
    ['{"cmd":"logs","generation":3}', { cmd: "logs", follow: false, generation: 3 }],
    ['{"cmd":"logs","generation":"previous","tail":0}', { cmd: "logs", follow: false, generation: "previous", tail: 0 }],
    ['{"cmd":"logs","tail":null,"generation":null}', { cmd: "logs", follow: false }],
  ])("accepts %s", (line, value) => {
    expect(parseRequest(line)).toEqual({ ok: true, value });
  });

  it.each([
    ['{"cmd":"logs","follow":"yes"}', "field 'follow' must be true or false"],
    ['{"cmd":"logs","tail":-1}', `field 'tail' must be a whole number of lines from 0 to ${MAX_TAIL_LINES}`],
    ['{"cmd":"logs","tail":1.5}', `field 'tail' must be a whole number of lines from 0 to ${MAX_TAIL_LINES}`],
    [`{"cmd":"logs","tail":${MAX_TAIL_LINES + 1}}`, `field 'tail' must be a whole number of lines from 0 to ${MAX_TAIL_LINES}`],
    ['{"cmd":"logs","generation":0}', 'field \'generation\' must be a generation number (1, 2, ...) or "previous"'],
    ['{"cmd":"logs","generation":"last"}', 'field \'generation\' must be a generation number (1, 2, ...) or "previous"'],
    ['{"cmd":"logs","lines":5}', "unknown field 'lines' (this command takes: cmd, follow, tail, generation)"],
  ])("refuses %s", (line, error) => {
    expect(parseRequest(line)).toEqual({ ok: false, error });
  });
});

describe("parseLogsHead", () => {
  it("reads the head, a refusal, and nothing else", () => {
    expect(parseLogsHead('{"ok":true,"logs":{"generation":2}}')).toEqual({ ok: true, value: { ok: true, generation: 2 } });
    expect(parseLogsHead('{"ok":false,"error":"no"}')).toEqual({ ok: true, value: { ok: false, error: "no" } });
    expect(parseLogsHead('{"ok":true,"pid":3,"generation":1}').ok).toBe(false);
    expect(parseLogsHead('{"ok":true,"logs":{"generation":-1}}').ok).toBe(false);
  });
});

describe("FrameSplitter", () => {
  it("splits frames across any chunking", () => {
    const stream = Buffer.concat([
      encodeFrame(LOGS_FRAME.data, Buffer.from("hello\n")),
      encodeFrame(LOGS_FRAME.generation, Buffer.from('{"generation":2,"pid":9}')),
      encodeFrame(LOGS_FRAME.data, Buffer.alloc(0)),
    ]);
    for (let step = 1; step <= stream.length; step++) {
      const s = new FrameSplitter();
      const frames: { type: number; payload: string }[] = [];
      for (let i = 0; i < stream.length; i += step) {
        const got = s.push(stream.subarray(i, i + step));
        if ("error" in got) throw new Error(got.error);
        for (const f of got) frames.push({ type: f.type, payload: f.payload.toString() });
      }
      expect(frames).toEqual([
        { type: LOGS_FRAME.data, payload: "hello\n" },
        { type: LOGS_FRAME.generation, payload: '{"generation":2,"pid":9}' },
        { type: LOGS_FRAME.data, payload: "" },
      ]);
    }
  });

  it("refuses an unknown type and an oversized frame before buffering it", () => {
    expect(new FrameSplitter().push(Buffer.from([0x7a, 0, 0, 0, 1, 0]))).toEqual({ error: "malformed logs stream: frame type 122" });
    const big = Buffer.alloc(5);
    big[0] = LOGS_FRAME.data;
    big.writeUInt32BE(MAX_LOGS_FRAME + 1, 1);
    expect(new FrameSplitter().push(big)).toEqual({ error: `malformed logs stream: a frame of ${MAX_LOGS_FRAME + 1} bytes` });
  });
});
