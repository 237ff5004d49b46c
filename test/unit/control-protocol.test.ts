// The control socket's one validating parser.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DEFAULT_RESTART_TIMEOUT_MS, MAX_LINE_BYTES, MAX_TAIL_CHARS, parseRequest, parseResponse } from "../../src/control/protocol.js";

describe("parseRequest", () => {
  it.each([
    ['{"cmd":"status"}', { cmd: "status" }],
    [' {"cmd" : "status"} ', { cmd: "status" }],
    ['{"cmd":"restart","timeoutMs":5000}', { cmd: "restart", timeoutMs: 5000, wait: "ready", settleMs: 1000 }],
    ['{"cmd":"restart"}', { cmd: "restart", timeoutMs: DEFAULT_RESTART_TIMEOUT_MS, wait: "ready", settleMs: 1000 }],
    ['{"cmd":"restart","timeoutMs":null}', { cmd: "restart", timeoutMs: DEFAULT_RESTART_TIMEOUT_MS, wait: "ready", settleMs: 1000 }],
    ['{"cmd":"restart","timeoutMs":3600000}', { cmd: "restart", timeoutMs: 3_600_000, wait: "ready", settleMs: 1000 }],
    ['{"cmd":"restart","wait":"running"}', { cmd: "restart", timeoutMs: DEFAULT_RESTART_TIMEOUT_MS, wait: "running", settleMs: 1000 }],
    ['{"cmd":"restart","settleMs":null}', { cmd: "restart", timeoutMs: DEFAULT_RESTART_TIMEOUT_MS, wait: "ready", settleMs: 1000 }],
    ['{"cmd":"restart","settleMs":0}', { cmd: "restart", timeoutMs: DEFAULT_RESTART_TIMEOUT_MS, wait: "ready", settleMs: 0 }],
    ['{"cmd":"restart","settleMs":600000}', { cmd: "restart", timeoutMs: DEFAULT_RESTART_TIMEOUT_MS, wait: "ready", settleMs: 600_000 }],
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
    ['{"cmd":"restart","force":true}', "unknown field 'force' (this command takes: cmd, timeoutMs, wait, settleMs)"],
    ['{"cmd":"restart","settleMs":-1}', "field 'settleMs' must be a whole number of milliseconds from 0 to 600000"],
    ['{"cmd":"restart","settleMs":600001}', "field 'settleMs' must be a whole number of milliseconds from 0 to 600000"],
    ['{"cmd":"restart","settleMs":0.5}', "field 'settleMs' must be a whole number of milliseconds from 0 to 600000"],
    ['{"cmd":"restart","settleMs":"1s"}', "field 'settleMs' must be a whole number of milliseconds from 0 to 600000"],
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

describe("parseResponse: a restart's outcome", () => {
  const base = { pid: 9, generation: 2, oldPid: 8, ms: 40 };
  const good: [string, object, boolean][] = [
    ["ready", { kind: "ready", ...base, how: "http" }, true],
    ["up", { kind: "up", ...base, upMs: 1000 }, true],
    ["running", { kind: "running", ...base }, true],
    ["up, no old pid", { kind: "up", ...base, oldPid: null, upMs: 1000 }, true],
    ["crashed", { kind: "crashed", ...base, status: "exit 1", upMs: 60, tail: "Traceback ...\nSyntaxError\n" }, false],
    ["crashed, never spawned, no tail", { kind: "crashed", ...base, pid: null, status: "exit 127", upMs: 0, tail: null }, false],
    ["kept, exited", { kind: "kept", ...base, reason: "exited before it was ready", status: "exit 1", tail: "boom\n" }, false],
    ["kept, not ready in time", { kind: "kept", ...base, reason: "not ready within 3000 ms", status: null, tail: null }, false],
  ];
  it.each(good)("accepts %s", (_what, outcome, ok) => {
    const answer = ok ? { ok, pid: 9, generation: 2, ms: 40, outcome } : { ok, error: "the new app exited", outcome };
    expect(parseResponse(JSON.stringify(answer))).toEqual({ ok: true, value: answer });
  });

  const bad: [string, unknown, boolean][] = [
    ["an unknown kind", { kind: "fine", ...base }, true],
    ["no kind", { ...base }, true],
    ["a missing field", { kind: "up", ...base }, true],
    ["an unknown field", { kind: "running", ...base, extra: 1 }, true],
    ["a pid of 0", { kind: "running", ...base, pid: 0 }, true],
    ["a string ms", { kind: "running", ...base, ms: "40" }, true],
    ["a negative upMs", { kind: "up", ...base, upMs: -1 }, true],
    ["a tail over the bound", { kind: "crashed", ...base, status: "exit 1", upMs: 1, tail: "x".repeat(MAX_TAIL_CHARS + 1) }, false],
    ["a status over 500 characters", { kind: "crashed", ...base, status: "x".repeat(501), upMs: 1, tail: null }, false],
    ["kept without the serving pid", { kind: "kept", ...base, oldPid: null, reason: "r", status: null, tail: null }, false],
    ["an array", [], true],
    ["a success with a crash", { kind: "crashed", ...base, status: "exit 1", upMs: 1, tail: null }, true],
    ["a failure with a success", { kind: "ready", ...base, how: "http" }, false],
  ];
  it.each(bad)("refuses %s", (_what, outcome, ok) => {
    const answer = ok ? { ok, pid: 9, generation: 2, ms: 40, outcome } : { ok, error: "e", outcome };
    expect(parseResponse(JSON.stringify(answer)).ok).toBe(false);
  });

  it("a tail of exactly the bound, with JSON escapes, fits in one answer line", () => {
    const tail = "\u0001".repeat(MAX_TAIL_CHARS);
    const line = JSON.stringify({ ok: false, error: "x".repeat(500), outcome: { kind: "crashed", ...base, status: "exit 1", upMs: 1, tail } });
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_LINE_BYTES);
    expect(parseResponse(line).ok).toBe(true);
  });
});

describe("parseResponse: the status's last crash", () => {
  const status = { state: "broken", pid: null, generation: 3, uptimeMs: null, restarts: 2, lastExit: "exit 1", lastRestartReason: "control", supervisorPid: 1 };
  const lastCrash = { generation: 3, pid: 19, status: "exit 1", upMs: 60, agoMs: 1200, afterChange: true };
  it("accepts a well-formed one", () => {
    expect(parseResponse(JSON.stringify({ ok: true, status: { ...status, lastCrash } }))).toEqual({ ok: true, value: { ok: true, status: { ...status, lastCrash } } });
    expect(parseResponse(JSON.stringify({ ok: true, status: { ...status, lastCrash: { ...lastCrash, pid: null } } })).ok).toBe(true);
  });
  it.each([
    ["a missing field", { ...lastCrash, afterChange: undefined }],
    ["an unknown field", { ...lastCrash, tail: "x" }],
    ["afterChange not a boolean", { ...lastCrash, afterChange: 1 }],
    ["a string", "exit 1"],
  ])("refuses %s", (_what, bad) => {
    expect(parseResponse(JSON.stringify({ ok: true, status: { ...status, lastCrash: bad } })).ok).toBe(false);
  });
});
