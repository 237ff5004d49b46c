// The entry's code cache (src/boot/load-bundle.js, made by scripts/code-cache.mjs): used only if
// it was made from this very bundle (its id and length) by this node; anything wrong with it is a plain compile and
// an ordinary start, never a failed one. Each case runs pidone as PID 1 on a copy of dist/ and
// reads the state it logs at debug right after the first spawn.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { BUNDLE, PIDONE_NODE, cleanupAll, runPidone } from "../helpers/pidone.js";

let dist: string;
let cacheFile: string;

beforeAll(() => {
  dist = mkdtempSync(path.join(tmpdir(), "pidone-cache-"));
  // A copy without the build's caches.
  cpSync(path.dirname(BUNDLE), dist, { recursive: true, filter: (src) => !src.includes(`${path.sep}.cache`) && !src.includes("standalone") });
  const version = execFileSync(PIDONE_NODE, ["--version"], { encoding: "utf8" }).trim();
  cacheFile = path.join(dist, ".cache", `pidone-main-${version}-${process.arch}.v8`);
});
afterAll(() => rmSync(dist, { recursive: true, force: true }));
afterEach(cleanupAll);

async function start(env: Record<string, string> = {}): Promise<string> {
  const { exit, p } = await runPidone({ args: ["--log-level", "debug", "--restart", "never", "--", "sh", "-c", "echo app-ran; exit 3"], bundle: path.join(dist, "pidone.cjs"), env });
  expect(exit.code, p.output()).toBe(3);
  expect(p.stdout.toString()).toBe("app-ran\n");
  const states = p.all("code-cache").map((e) => e.state);
  expect(states, p.output()).toHaveLength(1);
  return states[0] as string;
}

describe("the code cache", () => {
  it("none: compiled as usual; PIDONE_WRITE_CODE_CACHE=1 writes it at the first spawn; the next start uses it", async () => {
    expect(await start()).toBe("missing");
    expect(await start({ PIDONE_WRITE_CODE_CACHE: "1" })).toBe("written");
    expect(existsSync(cacheFile)).toBe(true);
    expect(await start()).toBe("hit");
  });

  it("a rebuilt bundle (a new id on its first line) does not use it: stale; a copy (new mtimes) keeps it", async () => {
    const bundle = path.join(dist, "pidone-main.cjs");
    const code = readFileSync(bundle, "latin1");
    const [idLine = ""] = code.split("\n", 1);
    expect(idLine).toMatch(/^\/\/ pidone-bundle [0-9a-f]{32}$/);
    writeFileSync(bundle, `// pidone-bundle ${"0".repeat(32)}${code.slice(idLine.length)}`, "latin1");
    expect(await start()).toBe("stale");
    // Made again for the bundle as it is now: used again.
    expect(await start({ PIDONE_WRITE_CODE_CACHE: "1" })).toBe("written");
    expect(await start()).toBe("hit");
    writeFileSync(bundle, code, "latin1");
    expect(await start()).toBe("stale");
    expect(await start({ PIDONE_WRITE_CODE_CACHE: "1" })).toBe("written");
    // A plain copy changes every mtime: the cache still fits the bundle it was made from.
    const copy = mkdtempSync(path.join(tmpdir(), "pidone-cache-copy-"));
    try {
      cpSync(dist, copy, { recursive: true });
      const { exit, p } = await runPidone({ args: ["--log-level", "debug", "--", "true"], bundle: path.join(copy, "pidone.cjs") });
      expect(exit.code, p.output()).toBe(0);
      expect(p.all("code-cache")[0]?.state).toBe("hit");
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it("a cache V8 refuses (not V8's format) is rejected, and pidone starts as usual", async () => {
    if (!existsSync(cacheFile)) expect(await start({ PIDONE_WRITE_CODE_CACHE: "1" })).toBe("written");
    const data = readFileSync(cacheFile);
    const body = data.indexOf(10) + 1;
    const bad = Buffer.from(data);
    bad.fill(0xa5, body, body + 64);
    writeFileSync(cacheFile, bad);
    expect(await start()).toBe("rejected");
    // Cut short: V8 checks the length it recorded.
    writeFileSync(cacheFile, data.subarray(0, body + 100));
    expect(await start()).toBe("rejected");
    writeFileSync(cacheFile, data);
    expect(await start()).toBe("hit");
  });

  it("a header that is not ours (garbage, empty file) is stale, and pidone starts as usual", async () => {
    if (!existsSync(cacheFile)) expect(await start({ PIDONE_WRITE_CODE_CACHE: "1" })).toBe("written");
    const data = readFileSync(cacheFile);
    for (const junk of [Buffer.alloc(0), Buffer.from("garbage\n"), Buffer.alloc(4096, 0)]) {
      writeFileSync(cacheFile, junk);
      expect(await start(), JSON.stringify(junk.subarray(0, 8).toString())).toBe("stale");
    }
    writeFileSync(cacheFile, data);
  });

  it("a cache that cannot be written (its directory is a file) is reported, and pidone runs on", async () => {
    const other = mkdtempSync(path.join(tmpdir(), "pidone-cache-ro-"));
    try {
      cpSync(dist, other, { recursive: true, filter: (src) => !src.includes(`${path.sep}.cache`) });
      writeFileSync(path.join(other, ".cache"), "not a directory");
      const { exit, p } = await runPidone({ args: ["--log-level", "debug", "--", "true"], bundle: path.join(other, "pidone.cjs"), env: { PIDONE_WRITE_CODE_CACHE: "1" } });
      expect(exit.code, p.output()).toBe(0);
      expect(String(p.all("code-cache")[0]?.state)).toMatch(/^not written: .*(EEXIST|ENOTDIR)/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it.runIf(PIDONE_NODE === process.execPath)("the build leaves a cache this node uses", async () => {
    const { exit, p } = await runPidone({ args: ["--log-level", "debug", "--", "true"] });
    expect(exit.code, p.output()).toBe(0);
    expect(p.all("code-cache")[0]?.state).toBe("hit");
  });
});
