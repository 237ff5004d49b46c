// The receiver's phases, driven in-process with frames and a fake pidone (restart and watch):
// the watch over the generation a batch started lasts through hash requests and ends with the
// next batch or the end of the stream; a crash is reported only while it lasts.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { FrameDecoder, PROTOCOL_VERSION, encodeFrame, type RestartOutcome } from "../../src/sync/protocol.js";
import { RECEIVE_EXIT } from "../../src/exit-code.js";
import { receive, type ReceiveOptions } from "../../src/sync/receiver.js";
import type { OutputForwarder } from "../../src/sync/output-follow.js";

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), "pidone-phases-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const F = (h: object, payload?: Buffer) => encodeFrame(h, payload);
const HELLO = F({ t: "hello", v: PROTOCOL_VERSION, skip: [] });
const file = (p: string, content: string) => F({ t: "file", path: p, size: Buffer.byteLength(content), exec: false, mtimeMs: 1_700_000_000_000 }, Buffer.from(content));
const UP: RestartOutcome = { kind: "up", oldPid: 10, newPid: 11, generation: 2, restartMs: 1, upMs: 300 };

/** Run receive() over `chunks`, each handed over only once the previous one is consumed;
 *  `between(i)` runs just before chunk i is handed over. */
async function drive(chunks: Buffer[], watch: (pid: number, stop: AbortSignal) => Promise<string | null>, between: (i: number) => unknown = () => {}, follow: ReceiveOptions["followOutput"] = async () => {}) {
  const answers: Record<string, unknown>[] = [];
  const warnings: string[] = [];
  const dec = new FrameDecoder();
  async function* input() {
    for (let i = 0; i < chunks.length; i++) {
      await between(i);
      yield chunks[i] as Buffer;
    }
    await between(chunks.length);
  }
  const stream = Object.assign(input(), { destroy() {} });
  const code = await receive(root, {
    remoteDir: root,
    restart: async () => UP,
    watchAfter: watch,
    followOutput: follow,
    restartTimeoutMs: 1000,
    input: stream,
    write: (frame) => { for (const f of dec.push(frame)) answers.push(f.payload.length > 0 ? { ...f.header, data: f.payload.toString() } : f.header); },
    backlog: () => 0,
    warn: (line) => warnings.push(line),
  });
  return { code, answers, warnings };
}

describe("pidone receive's phases", () => {
  it("the watch over a batch's generation lasts through a hash request and ends at the next batch", async () => {
    const stops: AbortSignal[] = [];
    const seen: (boolean | undefined)[] = [];
    const r = await drive([
      HELLO,
      Buffer.concat([F({ t: "begin", id: 1 }), file("a.txt", "one"), F({ t: "commit", id: 1, restart: true })]),
      F({ t: "hash", paths: ["a.txt"] }),
      Buffer.concat([F({ t: "begin", id: 2 }), file("b.txt", "two"), F({ t: "commit", id: 2, restart: false })]),
      F({ t: "hash", paths: [] }),
    ], async (_pid, stop) => {
      stops.push(stop);
      return null;
    }, (i) => seen.push(stops[0]?.aborted));
    expect(r.code, r.warnings.join("\n")).toBe(RECEIVE_EXIT.ok);
    // After the first batch and after the hash request: still watching; after the second batch
    // (before the stream ends): ended.
    expect(seen).toEqual([undefined, undefined, false, false, true, true]);
    expect(stops).toHaveLength(1);
    expect(r.answers.map((a) => a.t)).toEqual(["hello", "tree-end", "applied", "result", "hashes", "applied", "result", "hashes"]);
    expect(readFileSync(path.join(root, "b.txt"), "utf8")).toBe("two");
  });

  it("the end of the stream ends the watch, and a death reported after that is not sent", async () => {
    let finish: (status: string) => void = () => {};
    let stop: AbortSignal | undefined;
    const r = await drive([HELLO, Buffer.concat([F({ t: "begin", id: 1 }), file("a.txt", "one"), F({ t: "commit", id: 1, restart: true })])], (_pid, s) => {
      stop = s;
      return new Promise((res) => (finish = res));
    });
    expect(r.code).toBe(RECEIVE_EXIT.ok);
    expect(stop?.aborted).toBe(true);
    finish("exit 1");
    await new Promise((res) => setImmediate(res));
    expect(r.answers.map((a) => a.t)).toEqual(["hello", "tree-end", "applied", "result"]);
  });

  it("a death while the watch lasts is sent as a crashed notice for its batch", async () => {
    const r = await drive([
      HELLO,
      Buffer.concat([F({ t: "begin", id: 7 }), file("a.txt", "one"), F({ t: "commit", id: 7, restart: true })]),
      F({ t: "hash", paths: [] }),
    ], async () => "exit 3", () => new Promise((res) => setImmediate(res)));
    expect(r.code).toBe(RECEIVE_EXIT.ok);
    expect(r.answers).toContainEqual({ t: "crashed", id: 7, pid: 11, status: "exit 3" });
  });

  it("the output of the generation a batch started goes out as output notices of that batch until the next batch begins", async () => {
    const fwds: { fwd: OutputForwarder; stop: AbortSignal }[] = [];
    const r = await drive([
      HELLO,
      Buffer.concat([F({ t: "begin", id: 4 }), file("a.txt", "one"), F({ t: "commit", id: 4, restart: true })]),
      F({ t: "hash", paths: [] }),
      Buffer.concat([F({ t: "begin", id: 5 }), file("a.txt", "two"), F({ t: "commit", id: 5, restart: false })]),
    ], async () => null, (i) => {
      if (i === 2) fwds[0]?.fwd.data(Buffer.from("hello from v1\n"));
      if (i === 4) fwds[0]?.fwd.data(Buffer.from("after the next batch\n"));
    }, async (fwd, stop) => void fwds.push({ fwd, stop }));
    expect(r.code, r.warnings.join("\n")).toBe(RECEIVE_EXIT.ok);
    expect(fwds.map((f) => f.stop.aborted)).toEqual([true]);
    expect(r.answers.filter((a) => a.t === "output")).toEqual([{ t: "output", id: 4, data: "hello from v1\n" }]);
  });

  it("a file split over chunks stays its own phase until complete; a stream cut inside it leaves no temporary file", async () => {
    const r = await drive([
      HELLO,
      Buffer.concat([F({ t: "begin", id: 1 }), F({ t: "file", path: "big", size: 6, exec: false, mtimeMs: 0 }, Buffer.from("ab")), F({ t: "chunk" }, Buffer.from("cd"))]),
    ], async () => null);
    expect(r.code).toBe(RECEIVE_EXIT.interrupted);
    expect(r.warnings).toEqual(["pidone receive: the stream ended inside a batch; batch discarded, REMOTE_DIR unchanged"]);
    expect(readdirSync(root)).toEqual([]);
  });
});
