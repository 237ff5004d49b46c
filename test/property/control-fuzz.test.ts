// Fuzzing the control socket of a real pidone (PID 1 of its own namespace): thousands of
// generated inputs (random bytes, truncated and mutated requests, JSON of every shape, lines far
// over the bound, deep nesting, many idle connections). Every input must get exactly one JSON
// answer line and a close; afterwards the app is the same process, pidone answers, and its
// memory and file descriptors stayed bounded. Fixed budget: a run count and a time cap.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import net from "node:net";
import path from "node:path";
import { FIXTURES, cleanupAll, startPidone, type Pidone } from "../helpers/pidone.js";
import { exchange, fdCount, oneLine, rssBytes } from "../helpers/control.js";
import { LineSplitter } from "../../src/line-splitter.js";
import { MAX_LINE_BYTES, parseRequest } from "../../src/control/protocol.js";

const MB = 1024 * 1024;
const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const TIME_CAP_MS = Number(process.env.FUZZ_TIME_CAP_MS ?? 25_000);

let p: Pidone;
let appPid: number;
let rssBefore: number;
let fdsBefore: number;

const status = async () => oneLine(await exchange(p.socket, ['{"cmd":"status"}\n']));

beforeAll(async () => {
  p = startPidone({ args: ["--", path.join(FIXTURES, "signals.py")] });
  await p.waitForStdout(/app READY/);
  await p.waitForEvent("ready");
  // Warm up (koffi for SO_PEERCRED, the parser) before taking the baseline.
  for (let i = 0; i < 20; i++) await status();
  appPid = ((await status()).status as { pid: number }).pid;
  rssBefore = rssBytes(p.pid1);
  fdsBefore = fdCount(p.pid1);
});
afterAll(cleanupAll);

const valid = ['{"cmd":"status"}', '{"cmd":"restart","timeoutMs":5000}', '{"cmd":"restart"}', '{ "cmd" : "status" }'];

/** One input: bytes to send, cut into chunks. */
const input: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }).map((b) => Buffer.from(b)),
  fc.string({ unit: "binary", maxLength: 512 }).map((s) => Buffer.from(s)),
  // Truncated valid requests, with or without the newline.
  fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.boolean()).map(([v, n, nl]) => Buffer.from(`${v.slice(0, n % (v.length + 1))}${nl ? "\n" : ""}`)),
  // Mutated valid requests: bytes replaced, inserted or dropped.
  fc.tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("set", "insert", "drop")), { minLength: 1, maxLength: 6 }))
    .map(([v, edits]) => {
      const b = [...Buffer.from(v)];
      for (const [at, byte, op] of edits) {
        const i = at % (b.length + 1);
        if (op === "set" && i < b.length) b[i] = byte;
        else if (op === "insert") b.splice(i, 0, byte);
        else b.splice(i, 1);
      }
      return Buffer.from([...b, 0x0a]);
    }),
  // JSON of every shape, and several lines at once.
  fc.array(fc.json({ maxDepth: 4 }), { minLength: 1, maxLength: 4 }).map((lines) => Buffer.from(lines.map((l) => `${l}\n`).join(""))),
  fc.record({ cmd: fc.oneof(fc.string(), fc.constantFrom("status", "restart"), fc.integer(), fc.constant(null)), timeoutMs: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(undefined)) }, { requiredKeys: [] })
    .map((o) => Buffer.from(`${JSON.stringify(o)}\n`)),
  // Lines over the 64 KiB bound, with or without a newline.
  fc.tuple(fc.integer({ min: 60_000, max: 250_000 }), fc.boolean()).map(([n, nl]) => Buffer.alloc(n + (nl ? 1 : 0), "x").fill(nl ? "\n" : "x", n)),
  // Deep nesting, balanced or not.
  fc.tuple(fc.integer({ min: 1, max: 40_000 }), fc.constantFrom("[", '{"a":'), fc.boolean()).map(([n, open, close]) => {
    const closer = open === "[" ? "]" : "}";
    return Buffer.from(`${open.repeat(n)}1${close ? closer.repeat(n) : ""}\n`);
  }),
);

/** Cut `b` into chunks at generated offsets. */
const chunked = input.chain((b) => fc.array(fc.nat(b.length), { maxLength: 8 }).map((cuts) => {
  const at = [...new Set([0, ...cuts.sort((x, y) => x - y), b.length])];
  const out: Buffer[] = [];
  for (let i = 1; i < at.length; i++) out.push(b.subarray(at[i - 1] as number, at[i] as number));
  return out.length ? out : [b];
}));

/** Would pidone take this as a restart request? (Those would legitimately replace the app.) */
function isRestart(chunks: Buffer[]): boolean {
  const s = new LineSplitter(MAX_LINE_BYTES);
  const first = [...chunks.flatMap((c) => s.push(c)), ...s.end()][0];
  if (first?.kind !== "line") return false;
  const r = parseRequest(first.line);
  return r.ok && r.value.cmd === "restart";
}

describe("control socket fuzzing (pidone as PID 1)", () => {
  it(`${RUNS} generated inputs: each gets one JSON line and a close; the app and pidone are untouched`, async () => {
    let ran = 0;
    await fc.assert(fc.asyncProperty(chunked, async (chunks) => {
      fc.pre(!isRestart(chunks));
      ran++;
      const x = await exchange(p.socket, chunks, { end: true, timeoutMs: 8000 });
      expect(x.closed, `no close for ${JSON.stringify(Buffer.concat(chunks).subarray(0, 200).toString("latin1"))}`).toBe(true);
      const answer = oneLine(x);
      expect(typeof answer.ok).toBe("boolean");
      if (!answer.ok) expect(typeof answer.error).toBe("string");
    }), { numRuns: RUNS, interruptAfterTimeLimit: TIME_CAP_MS, markInterruptAsFailure: false });
    expect(ran, "too few inputs ran within the time cap").toBeGreaterThan(300);
  }, TIME_CAP_MS + 15_000);

  it("200 idle connections: the ones past the cap are told busy, all are closed by the deadline", async () => {
    // The fuzzed connections may linger up to a second after their answer.
    await p.until(() => fdCount(p.pid1) <= fdsBefore, "the fuzzed connections to close", 5000, 20);
    const conns = await Promise.all(Array.from({ length: 200 }, () => new Promise<{ answer: Promise<string>; closed: Promise<void> }>((resolve, reject) => {
      const c = net.connect(p.socket);
      let text = "";
      c.on("data", (d: Buffer) => (text += d.toString()));
      c.on("error", () => {});
      const closed = new Promise<void>((r) => c.on("close", () => r()));
      c.once("connect", () => resolve({ answer: closed.then(() => text), closed }));
      c.once("error", reject);
    })));
    // While they are open, pidone's descriptors stay bounded by its caps (64 served, 128 in all).
    expect(fdCount(p.pid1) - fdsBefore).toBeLessThanOrEqual(140);
    const bound = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("idle connections not closed within 10 s")), 10_000));
    const answers = await Promise.race([Promise.all(conns.map((c) => c.answer)), bound]);
    const busy = answers.filter((a) => a.includes('"busy: 64 connections are open'));
    expect(busy.length).toBeGreaterThanOrEqual(200 - 64 - 64); // past the Node backstop, closed without a word
    expect(answers.filter((a) => a === "").length).toBeGreaterThanOrEqual(64); // the served ones: cut at the deadline
    expect((await status()).ok).toBe(true);
  }, 20_000);

  it("afterwards: same app pid, pidone answers status, memory and descriptors bounded", async () => {
    const st = await status();
    expect(st, p.output()).toMatchObject({ ok: true, status: { state: "running", pid: appPid, generation: 1, restarts: 0 } });
    expect(p.exit).toBeNull();
    expect(p.all("internal-error")).toEqual([]);
    const rss = rssBytes(p.pid1);
    // Bounded, not flat: every socket read is a 64 KiB buffer that only a GC frees, and V8 lets
    // external memory grow by up to 64 MB before it forces one. A leak, or a line buffered whole
    // (the bug: +100 MB for one 16 MB line), goes past this; 2000 runs measured about +30 MB.
    expect(rss - rssBefore, `RSS ${(rssBefore / MB).toFixed(1)} MB -> ${(rss / MB).toFixed(1)} MB`).toBeLessThan(64 * MB);
    await p.until(() => fdCount(p.pid1) <= fdsBefore + 2, "pidone's descriptors back to the baseline", 5000, 50);
    console.log(`control fuzz: RSS ${(rssBefore / MB).toFixed(1)} -> ${(rss / MB).toFixed(1)} MB, fds ${fdsBefore} -> ${fdCount(p.pid1)}`);
  });
});
