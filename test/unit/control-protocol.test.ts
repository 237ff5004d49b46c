// The control socket's one validating parser, and the line splitter in front of it.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  DEFAULT_RESTART_TIMEOUT_MS, LineSplitter, MAX_LINE_BYTES, parseRequest, parseResponse, type LineEvent,
} from "../../src/control/protocol.js";

describe("parseRequest", () => {
  it.each([
    ['{"cmd":"status"}', { cmd: "status" }],
    [' {"cmd" : "status"} ', { cmd: "status" }],
    ['{"cmd":"restart","timeoutMs":5000}', { cmd: "restart", timeoutMs: 5000, wait: "ready" }],
    ['{"cmd":"restart"}', { cmd: "restart", timeoutMs: DEFAULT_RESTART_TIMEOUT_MS, wait: "ready" }],
    ['{"cmd":"restart","timeoutMs":null}', { cmd: "restart", timeoutMs: DEFAULT_RESTART_TIMEOUT_MS, wait: "ready" }],
    ['{"cmd":"restart","timeoutMs":3600000}', { cmd: "restart", timeoutMs: 3_600_000, wait: "ready" }],
    ['{"cmd":"restart","wait":"running"}', { cmd: "restart", timeoutMs: DEFAULT_RESTART_TIMEOUT_MS, wait: "running" }],
  ])("accepts %s", (line, value) => {
    expect(parseRequest(line)).toEqual({ ok: true, value });
  });

  const nested = `${"[".repeat(20_000)}${"]".repeat(20_000)}`;
  const bad: [string, string][] = [
    ["null", "malformed request: expected a JSON object, got null"],
    ["1", "malformed request: expected a JSON object, got number"],
    ['"status"', "malformed request: expected a JSON object, got string"],
    ["[]", "malformed request: expected a JSON object, got an array"],
    ["true", "malformed request: expected a JSON object, got boolean"],
    ["", 'empty request (send one JSON object, e.g. {"cmd":"status"})'],
    ["   ", 'empty request (send one JSON object, e.g. {"cmd":"status"})'],
    ["{", 'malformed request: not JSON (send one JSON object per line, e.g. {"cmd":"status"})'],
    ["status", 'malformed request: not JSON (send one JSON object per line, e.g. {"cmd":"status"})'],
    ["{}", "missing field 'cmd' (use restart, status or logs)"],
    ['{"cmd":1}', "field 'cmd' must be a string (use restart, status or logs)"],
    ['{"cmd":null}', "field 'cmd' must be a string (use restart, status or logs)"],
    ['{"cmd":"reboot"}', "unknown command 'reboot' (use restart, status or logs)"],
    [`{"cmd":"${"x".repeat(100)}"}`, `unknown command '${"x".repeat(40)}...' (use restart, status or logs)`],
    ['{"cmd":"status","timeoutMs":1}', "unknown field 'timeoutMs' (this command takes: cmd)"],
    ['{"cmd":"restart","force":true}', "unknown field 'force' (this command takes: cmd, timeoutMs, wait)"],
    ['{"cmd":"restart","wait":"up"}', "field 'wait' must be ready or running"],
    ['{"cmd":"restart","timeoutMs":0}', "field 'timeoutMs' must be a whole number of milliseconds from 1 to 3600000"],
    ['{"cmd":"restart","timeoutMs":-5}', "field 'timeoutMs' must be a whole number of milliseconds from 1 to 3600000"],
    ['{"cmd":"restart","timeoutMs":1.5}', "field 'timeoutMs' must be a whole number of milliseconds from 1 to 3600000"],
    ['{"cmd":"restart","timeoutMs":3600001}', "field 'timeoutMs' must be a whole number of milliseconds from 1 to 3600000"],
    ['{"cmd":"restart","timeoutMs":1e400}', "field 'timeoutMs' must be a whole number of milliseconds from 1 to 3600000"],
    ['{"cmd":"restart","timeoutMs":"10s"}', "field 'timeoutMs' must be a whole number of milliseconds from 1 to 3600000"],
    ['{"cmd":{"cmd":{"cmd":{"cmd":"status"}}}}', "malformed request: JSON nested too deeply"],
    [nested, "malformed request: JSON nested too deeply"],
    [`{"cmd":"${"a".repeat(MAX_LINE_BYTES)}"}`, `request too long (the limit is ${MAX_LINE_BYTES} bytes)`],
  ];
  it.each(bad.map(([line, error]) => [line.length > 60 ? `${line.slice(0, 60)}... (${line.length} chars)` : line, line, error]))("refuses %s", (_label, line, error) => {
    expect(parseRequest(line)).toEqual({ ok: false, error });
  });

  it("brackets inside strings do not count as nesting", () => {
    expect(parseRequest('{"cmd":"[[[[{{{{\\"[[["}')).toEqual({ ok: false, error: `unknown command '[[[[{{{{"[[[' (use restart, status or logs)` });
  });

  it("never throws, and accepts only well-formed requests", () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))), (line) => {
      const r = parseRequest(line);
      if (r.ok) expect(["status", "restart"]).toContain(r.value.cmd);
      else expect(r.error).not.toContain("\n");
    }), { numRuns: 2000 });
  });
});

describe("parseResponse", () => {
  it("accepts the server's three answers and refuses the rest", () => {
    expect(parseResponse('{"ok":true,"pid":9,"generation":2}')).toEqual({ ok: true, value: { ok: true, pid: 9, generation: 2 } });
    expect(parseResponse('{"ok":false,"error":"busy"}')).toEqual({ ok: true, value: { ok: false, error: "busy" } });
    const status = { state: "running", pid: 8, generation: 1, uptimeMs: 10, restarts: 0, lastExit: null, lastRestartReason: null, supervisorPid: 1 };
    expect(parseResponse(JSON.stringify({ ok: true, status }))).toEqual({ ok: true, value: { ok: true, status } });
    expect(parseResponse(JSON.stringify({ ok: true, status: { ...status, pid: "8" } })).ok).toBe(false);
    expect(parseResponse("null")).toEqual({ ok: false, error: "malformed answer: expected a JSON object, got null" });
    expect(parseResponse('{"ok":true}')).toEqual({ ok: false, error: "malformed answer: neither a pid nor a status" });
    expect(parseResponse('{"ok":false}')).toEqual({ ok: false, error: "malformed answer: no error text" });
  });
});

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
