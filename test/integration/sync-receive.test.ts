// Hostile input to `pidone receive`, driven directly with crafted frames on its stdin: escaping
// paths, symlink tricks, oversized and truncated frames. Each is refused with a one-line error
// and a non-zero exit, with REMOTE_DIR exactly as it was (and no temporary file left) and nothing
// outside it touched.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BUNDLE } from "../helpers/pidone.js";
import { cleanEnv, snapshot } from "../helpers/sync.js";
import { FrameDecoder, MAX_FILE_SIZE, MAX_HEADER, MAX_PAYLOAD, PROTOCOL_VERSION, encodeFrame } from "../../src/sync/protocol.js";

let base: string;
let remote: string;
let outside: string;

beforeEach(() => {
  base = mkdtempSync(path.join(tmpdir(), "pidone-recv-"));
  remote = path.join(base, "remote");
  outside = path.join(base, "outside");
  mkdirSync(path.join(remote, "sub"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(path.join(remote, "app.txt"), "orig");
  writeFileSync(path.join(remote, "sub/keep.txt"), "keep");
  writeFileSync(path.join(outside, "victim"), "untouched");
  // Planted in the container: links that lead out of REMOTE_DIR.
  symlinkSync(outside, path.join(remote, "out"));
  symlinkSync("../outside", path.join(remote, "rel-out"));
  symlinkSync(path.join(outside, "victim"), path.join(remote, "victim-link"));
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

const F = (h: object, payload?: Buffer) => encodeFrame(h, payload);
const HELLO = F({ t: "hello", v: PROTOCOL_VERSION, skip: [] });
const file = (p: string, content: string, extra: object = {}) => F({ t: "file", path: p, size: Buffer.byteLength(content), exec: false, mtimeMs: 1_700_000_000_000, ...extra }, Buffer.from(content));
const batch = (...ops: Buffer[]) => Buffer.concat([F({ t: "begin", id: 1 }), ...ops, F({ t: "commit", id: 1, restart: false })]);

/** Run `pidone receive REMOTE` with `input` on stdin; decode what it answers. */
function receive(input: Buffer): Promise<{ code: number | null; stderr: string; answers: Record<string, unknown>[] }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BUNDLE, "receive", remote], { env: cleanEnv({ PIDONE_CONTROL_SOCKET: path.join(base, "none.sock") }), stdio: ["pipe", "pipe", "pipe"] });
    const dec = new FrameDecoder();
    const answers: Record<string, unknown>[] = [];
    let stderr = "";
    c.stdout.on("data", (d: Buffer) => { for (const f of dec.push(d)) answers.push(f.header); });
    c.stderr.on("data", (d) => (stderr += d));
    c.stdin.on("error", () => {}); // it may stop reading before we finish writing
    const t = setTimeout(() => { c.kill("SIGKILL"); reject(new Error(`receive timed out\n${stderr}`)); }, 15_000);
    c.on("exit", (code) => { clearTimeout(t); resolve({ code, stderr, answers }); });
    c.stdin.end(input);
  });
}

const state = () => ({ tree: snapshot(remote), victim: readFileSync(path.join(outside, "victim"), "utf8"), outside: snapshot(outside) });

async function expectRefused(input: Buffer, why: RegExp) {
  const before = state();
  const r = await receive(input);
  expect(r.code, r.stderr).not.toBe(0);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^pidone receive: /);
  expect(lines[0]).toMatch(why);
  expect(state()).toEqual(before); // includes: no .pidone-sync-* temporary left behind
  return r;
}

describe("pidone receive refuses hostile streams, leaving REMOTE_DIR as it was", () => {
  it.each([
    ["a path with ..", batch(file("../escape", "x")), /'\.\.\/escape' has an empty, '\.' or '\.\.' component/],
    ["a .. in the middle", batch(file("sub/../../escape", "x")), /component/],
    ["an absolute path", batch(file("/tmp/pidone-abs-escape", "x")), /absolute path/],
    ["an empty component", batch(file("sub//x", "x")), /component/],
    ["a NUL byte", batch(file("a\0b", "x")), /NUL/],
    ["a path longer than 4096 bytes", batch(file(`${"d/".repeat(2100)}x`, "x")), /longer than 4096/],
    ["a write through an absolute symlink to outside", batch(file("out/pwn", "x")), /through the symlink 'out'/],
    ["a write through a relative symlink to outside", batch(file("rel-out/victim", "x")), /through the symlink 'rel-out'/],
    ["a new directory under a symlink", batch(F({ t: "mkdir", path: "out/newdir" })), /through the symlink/],
    ["a delete through a symlink", batch(F({ t: "delete", path: "out/victim" })), /through the symlink/],
    ["a chmod through a symlink", batch(F({ t: "chmod", path: "out/victim", exec: true })), /through the symlink/],
    ["an absolute symlink target", batch(F({ t: "symlink", path: "l", target: "/etc/passwd" })), /is absolute/],
    ["an escaping symlink target", batch(F({ t: "symlink", path: "sub/l", target: "../../outside" })), /leaves the tree/],
    ["a file below a regular file", batch(file("app.txt/x", "x")), /'app.txt' is not a directory/],
    ["a whole batch is discarded when its last op is bad", batch(file("good.txt", "fine"), F({ t: "mkdir", path: "newdir" }), file("sub/new.txt", "new"), file("../bad", "x")), /component/],
    ["a header longer than the limit", Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])]), new RegExp(`header of 4294967295 bytes \\(limit ${MAX_HEADER}\\)`)],
    ["a payload longer than the limit", (() => { const h = Buffer.alloc(8); h.writeUInt32BE(2, 0); h.writeUInt32BE(MAX_PAYLOAD + 1, 4); return Buffer.concat([F({ t: "begin", id: 1 }), h, Buffer.from("{}")]); })(), /payload of \d+ bytes \(limit/],
    ["a file larger than the limit", batch(F({ t: "file", path: "big", size: MAX_FILE_SIZE + 1, exec: false, mtimeMs: 0 })), /'size' is not an integer/],
    ["more data than the declared size", batch(F({ t: "file", path: "f", size: 2, exec: false, mtimeMs: 0 }, Buffer.from("abc"))), /more data than its size/],
    ["a file shorter than its size before the next op", batch(F({ t: "file", path: "f", size: 10, exec: false, mtimeMs: 0 }, Buffer.from("abc"))), /short by 7 bytes/],
    ["a chunk with no file", batch(F({ t: "chunk" }, Buffer.from("x"))), /chunk without a file/],
    ["a header that is not JSON", Buffer.concat([(() => { const h = Buffer.alloc(8); h.writeUInt32BE(5, 0); return Buffer.concat([h, Buffer.from("{nope")]); })()]), /not JSON/],
    ["an unknown frame type", batch(F({ t: "exec", cmd: "sh" })), /unknown frame type 'exec'/],
    ["a batch op before hello", batch(file("x", "x")), /expected hello/, true],
    ["a protocol version from the future", F({ t: "hello", v: 99, skip: [] }), /protocol 99/, true],
    ["a commit outside a batch", F({ t: "commit", id: 1, restart: false }), /outside a batch/],
  ] as [string, Buffer, RegExp, boolean?][])("%s", async (_what, body, why, raw) => {
    await expectRefused(raw ? body : Buffer.concat([HELLO, body]), why);
  });

  it("a truncated frame at the end of the stream is refused and the staged files of its batch are removed", async () => {
    const whole = Buffer.concat([HELLO, F({ t: "begin", id: 1 }), file("staged.txt", "staged"), F({ t: "file", path: "big", size: 100, exec: false, mtimeMs: 0 }, Buffer.alloc(100))]);
    await expectRefused(whole.subarray(0, whole.length - 40), /stream ended inside a frame/);
  });

  it("a stream that ends inside a batch (the transport died) exits 3 and leaves no temporary file", async () => {
    const before = state();
    const r = await receive(Buffer.concat([HELLO, F({ t: "begin", id: 1 }), file("sub/half.txt", "half"), F({ t: "file", path: "f", size: 10, exec: false, mtimeMs: 0 }, Buffer.from("abc"))]));
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/ended inside a batch; batch discarded/);
    expect(state()).toEqual(before);
  });

  it("writing over a planted symlink replaces the link and never writes through it; a later bad batch leaves the good one applied", async () => {
    const r = await receive(Buffer.concat([
      HELLO,
      batch(file("victim-link", "replaced"), file("out", "a file now"), F({ t: "delete", path: "rel-out" })),
      F({ t: "begin", id: 2 }), file("second.txt", "no"), file("/etc/x", "no"),
    ]));
    expect(r.code).toBe(1);
    expect(readFileSync(path.join(outside, "victim"), "utf8")).toBe("untouched");
    expect(lstatSync(path.join(remote, "victim-link")).isFile()).toBe(true);
    expect(readFileSync(path.join(remote, "victim-link"), "utf8")).toBe("replaced");
    expect(lstatSync(path.join(remote, "out")).isFile()).toBe(true);
    expect(() => lstatSync(path.join(remote, "rel-out"))).toThrow(/ENOENT/);
    expect(() => lstatSync(path.join(remote, "second.txt"))).toThrow(/ENOENT/);
    expect(snapshot(outside)).toEqual({ victim: "file - untouched" });
    expect(r.answers.map((a) => a.t)).toEqual(["hello", "tree", "tree-end", "applied", "result", "error"]);
  });

  it("a hash request through a symlink answers null instead of hashing what the link points at", async () => {
    const r = await receive(Buffer.concat([HELLO, F({ t: "hash", paths: ["victim-link", "out/victim", "app.txt"] })]));
    expect(r.code, r.stderr).toBe(0);
    const hashes = r.answers.find((a) => a.t === "hashes") as { hashes: [string, string | null][] };
    expect(hashes.hashes[0]).toEqual(["victim-link", null]);
    expect(hashes.hashes[1]).toEqual(["out/victim", null]);
    expect(hashes.hashes[2]?.[1]).toMatch(/^[0-9a-f]{64}$/);
  });
});
