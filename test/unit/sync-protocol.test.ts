// The sync stream's pure parts: framing and its bounds, path and link-target checks, the --via
// splitter, the reconcile/batch planner, and the ignore rules (nested .gitignore files).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { FrameDecoder, MAX_HEADER, ProtocolError, checkLinkTarget, checkPath, decodeSenderMessage, encodeFrame } from "../../src/sync/protocol.js";
import { splitCommand } from "../../src/sync/transport.js";
import { applyToModel, atOrBelow, changePlan, orderOps, reconcilePlan } from "../../src/sync/plan.js";
import { IgnoreRules } from "../../src/sync/ignore-rules.js";
import type { Entry } from "../../src/sync/tree.js";

describe("frames", () => {
  it("round-trip in any split of the byte stream", () => {
    fc.assert(fc.property(
      fc.array(fc.record({ n: fc.integer({ min: 0, max: 1000 }), payload: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
      (msgs, cuts) => {
        const bytes = Buffer.concat(msgs.map((m) => encodeFrame({ t: "x", n: m.n }, Buffer.from(m.payload))));
        const dec = new FrameDecoder();
        const out = [];
        let off = 0;
        for (let i = 0; off < bytes.length; i++) {
          const len = cuts[i % cuts.length] as number;
          out.push(...dec.push(bytes.subarray(off, off + len)));
          off += len;
        }
        expect(dec.pending).toBe(0);
        expect(out.map((f) => [f.header.n, [...f.payload]])).toEqual(msgs.map((m) => [m.n, [...m.payload]]));
      },
    ), { numRuns: 200 });
  });

  it("refuse an oversized header before buffering it", () => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(MAX_HEADER + 1, 0);
    expect(() => new FrameDecoder().push(head)).toThrow(ProtocolError);
  });

  it("random garbage never crashes the decoder: frames or a ProtocolError", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        for (const f of new FrameDecoder().push(Buffer.from(bytes))) {
          try {
            decodeSenderMessage(f);
          } catch (err) {
            expect(err).toBeInstanceOf(ProtocolError);
          }
        }
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
      }
    }), { numRuns: 500 });
  });
});

describe("paths", () => {
  it.each(["a", "a/b", "a.b/c..d", ".hidden", "..."])("accepts %s", (p) => expect(checkPath(p)).toBe(p));
  it.each(["", "/a", "../a", "a/..", "a/./b", "a//b", "a/", "a\0b"])("refuses %j", (p) => expect(() => checkPath(p)).toThrow(ProtocolError));
  it("link targets stay inside", () => {
    expect(checkLinkTarget("a/b/l", "../c")).toBe("../c");
    expect(checkLinkTarget("l", "x/../y")).toBe("x/../y");
    expect(() => checkLinkTarget("l", "../x")).toThrow(/leaves the tree/);
    expect(() => checkLinkTarget("a/l", "../../x")).toThrow(/leaves the tree/);
    expect(() => checkLinkTarget("a/l", "x/../../../y")).toThrow(/leaves the tree/);
    expect(() => checkLinkTarget("l", "/etc")).toThrow(/absolute/);
  });
  it("no accepted path ever leaves the root", () => {
    fc.assert(fc.property(fc.array(fc.constantFrom("a", "..", ".", "", "b", "/"), { maxLength: 8 }), (parts) => {
      const p = parts.join("/");
      let ok = true;
      try {
        checkPath(p);
      } catch {
        ok = false;
      }
      if (ok) expect(path.posix.normalize(`/root/${p}`).startsWith("/root/")).toBe(true);
    }), { numRuns: 300 });
  });
});

describe("splitCommand (--via, --remote-command)", () => {
  it.each([
    ["kubectl exec -i -n dev web-0 --", ["kubectl", "exec", "-i", "-n", "dev", "web-0", "--"]],
    ["", []],
    ["  docker   exec -i  c ", ["docker", "exec", "-i", "c"]],
    ["env 'A=b c' \"D=\\\"e\\\"\" f\\ g", ["env", "A=b c", 'D="e"', "f g"]],
    ["ssh ''", ["ssh", ""]],
    ["node '/opt/my pidone/pidone.cjs'", ["node", "/opt/my pidone/pidone.cjs"]],
  ])("%j", (s, argv) => expect(splitCommand(s)).toEqual(argv));
  it("refuses an unterminated quote", () => {
    expect(() => splitCommand("ssh 'host")).toThrow(/unterminated '/);
    expect(() => splitCommand('ssh "host')).toThrow(/unterminated "/);
  });
});

const f = (size: number, mtimeMs = 1, exec = false): Entry => ({ kind: "f", size, exec, mtimeMs });
const d: Entry = { kind: "d", size: 0, exec: false, mtimeMs: 0 };
const l = (target: string): Entry => ({ kind: "l", size: 0, exec: false, mtimeMs: 0, target });

describe("plan", () => {
  const none = () => false;
  const all = () => true;

  it("reconcile: only differences, hashes for same size and other mtime, deletes only what is owned (topmost)", () => {
    const local = new Map<string, Entry>([["a", f(1)], ["b", f(2)], ["c", f(3, 5)], ["x", f(1, 1, true)], ["dir", d], ["l", l("a")]]);
    const remote = new Map<string, Entry>([["a", f(1)], ["b", f(9)], ["c", f(3, 6)], ["x", f(1)], ["gone", d], ["gone/y", f(1)], ["l", l("b")]]);
    const keep = reconcilePlan(local, remote, none);
    expect(orderOps(keep.ops)).toEqual([{ t: "mkdir", path: "dir" }, { t: "file", path: "b" }, { t: "symlink", path: "l", target: "a" }, { t: "chmod", path: "x", exec: true }]);
    expect(keep.hash).toEqual(["c"]);
    expect(reconcilePlan(local, remote, all).ops.filter((o) => o.t === "delete")).toEqual([{ t: "delete", path: "gone" }]);
    // Without --delete, only what LOCAL_DIR had earlier in the run.
    expect(reconcilePlan(local, remote, (p) => p === "gone/y").ops.filter((o) => o.t === "delete")).toEqual([{ t: "delete", path: "gone/y" }]);
  });

  it("batch: a deleted directory is one delete; a new directory brings its content; the model follows", () => {
    const model = new Map<string, Entry>([["old", d], ["old/a", f(1)], ["keep", f(1)]]);
    const local = new Map<string, Entry>([["new", d], ["new/b", f(2)]]);
    const ops = changePlan(["old", "old/a", "new"], local, model, none);
    expect(orderOps(ops)).toEqual([{ t: "delete", path: "old" }, { t: "mkdir", path: "new" }, { t: "file", path: "new/b" }]);
    applyToModel(model, ops, new Map([["new/b", f(2)]]));
    expect([...model.keys()].sort()).toEqual(["keep", "new", "new/b"]);
    // Unchanged since it was sent: nothing to do.
    expect(changePlan(["new/b"], new Map([["new/b", f(2)]]), model, all)).toEqual([]);
  });

  it("batch: a changed directory that lost entries the watcher never named (moved away and made again) loses them remotely, if owned", () => {
    // d1 (with d1/c and d1/sub/x) was renamed to t, then d1 made again with d1/e2 only.
    const model = new Map<string, Entry>([["d1", d], ["d1/c", l("../d1/c")], ["d1/sub", d], ["d1/sub/x", f(1)], ["d1/theirs", f(1)], ["other", f(1)]]);
    const local = new Map<string, Entry>([["d1", d], ["d1/e2", d], ["t", d], ["t/c", l("../d1/c")]]);
    const owned = (p: string) => p !== "d1/theirs";
    expect(orderOps(changePlan(["d1", "d1/e2", "t"], local, model, owned))).toEqual([
      { t: "delete", path: "d1/c" }, { t: "delete", path: "d1/sub" }, { t: "mkdir", path: "d1/e2" }, { t: "mkdir", path: "t" }, { t: "symlink", path: "t/c", target: "../d1/c" },
    ]);
    // Only below a changed directory: an unchanged path elsewhere is not judged.
    expect(changePlan(["d1/e2"], new Map([["d1/e2", d]]), model, all)).toEqual([{ t: "mkdir", path: "d1/e2" }]);
  });

  it("atOrBelow: the path itself or a directory above it, by whole components", () => {
    const dirs = new Set(["a", "x/y"]);
    for (const p of ["a", "a/b", "a/b/c", "x/y", "x/y/z"]) expect(atOrBelow(p, dirs), p).toBe(true);
    for (const p of ["ab", "ab/c", "b/a", "x", "x/yz", "x/yz/a"]) expect(atOrBelow(p, dirs), p).toBe(false);
  });

  it("the model gains the parents a receiver creates, so deleting one later is seen", () => {
    const model = new Map<string, Entry>();
    applyToModel(model, [{ t: "file", path: "a/b/c" }], new Map([["a/b/c", f(1)]]));
    expect(changePlan(["a"], new Map(), model, none)).toEqual([{ t: "delete", path: "a" }]);
  });
});

describe("ignore rules", () => {
  it("defaults, nested .gitignore files relative to their directory, --ignore globs", () => {
    const root = mkdtempSync(path.join(tmpdir(), "pidone-ign-"));
    try {
      writeFileSync(path.join(root, ".gitignore"), "*.log\n/top-only\n");
      mkdirSync(path.join(root, "sub"));
      writeFileSync(path.join(root, "sub/.gitignore"), "build/\n!keep.log\n");
      const r = new IgnoreRules(root, ["*.bak"]);
      const yes = [["node_modules", true], ["a/node_modules/x.js", false], [".git", true], ["__pycache__/m.pyc", false], ["m.pyc", false],
        ["x.swp", false], ["x~", false], [".restart_trigger", false], [".pidone-sync-1-2.tmp", false], ["a.log", false], ["top-only", false],
        ["sub/build", true], ["sub/build/o", false], ["f.bak", false]] as const;
      for (const [p, isDir] of yes) expect(r.ignores(p, isDir), p).toBe(true);
      const no = [["app.py", false], ["sub/top-only", false], ["build", true], ["sub/keep.log", false], ["src", true]] as const;
      for (const [p, isDir] of no) expect(r.ignores(p, isDir), p).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
