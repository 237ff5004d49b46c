// The package as users get it: `npm pack` (its prepack fetches koffi's arm64 modules and builds),
// installed into an empty prefix with no registry and no install scripts (and run by npx), then
// the installed `pidone` run on Node 20 and Node 22: --version through its shebang, PID 1 over an
// app (restarts by SIGUSR1 and `pidone restart`, `pidone status`, `pidone logs`, `pidone sync --once` through a
// local transport, the app's exit code passed), one start per node. The pack runs in a copy of the repository, so the build it makes never replaces the
// dist/ other test files are running.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { NODE22, ROOT, cleanupAll, run, startPidone } from "../helpers/pidone.js";
import { cleanEnv } from "../helpers/sync.js";

const MAX_UNPACKED = 10 * 1024 * 1024;
/** What the package may hold, under package/. */
const ALLOWED = [/^package\.json$/, /^README\.md$/, /^LICENSE$/, /^bin\/pidone$/, /^dist\/pidone(-main)?\.cjs$/, /^dist\/koffi\/[a-z0-9_]+\/koffi\.node$/];

let base = "";
let tarball = "";
let prefix = "";
const version = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;

beforeAll(async () => {
  base = mkdtempSync(path.join(tmpdir(), "pidone-install-"));
  const repo = path.join(base, "repo");
  // The repository as a clone has it (src/, test/, bench/, .ci/ and tools/ included: the pack must
  // leave them out), with the installed node_modules and the arm64 download cache linked in.
  const skip = new Set(["node_modules", "dist", "release", ".git", "tools/arm64", "tools/node22/node_modules"].map((p) => path.join(ROOT, p)));
  cpSync(ROOT, repo, { recursive: true, filter: (src) => !skip.has(src) && !src.endsWith(".tgz") });
  symlinkSync(path.join(ROOT, "node_modules"), path.join(repo, "node_modules"));
  mkdirSync(path.join(ROOT, "tools/arm64"), { recursive: true });
  symlinkSync(path.join(ROOT, "tools/arm64"), path.join(repo, "tools/arm64"));
  const out = path.join(base, "pack");
  mkdirSync(out);
  const pack = await run("npm", ["pack", "--pack-destination", out], { cwd: repo, env: cleanEnv() as Record<string, string>, timeoutMs: 240_000 });
  expect(pack.code, `${pack.stdout}\n${pack.stderr}`).toBe(0);
  const tgz = readdirSync(out);
  expect(tgz).toEqual([`pidone-${version}.tgz`]);
  tarball = path.join(out, tgz[0] as string);
  // An empty prefix, an empty npm cache and a registry that does not answer: nothing but the tarball.
  prefix = path.join(base, "prefix");
  const install = await run("npm", ["install", "-g", "--prefix", prefix, "--offline", "--ignore-scripts", "--no-audit", "--no-fund",
    "--cache", path.join(base, "npm-cache"), "--registry", "http://127.0.0.1:9/", tarball], { env: cleanEnv() as Record<string, string>, timeoutMs: 60_000 });
  expect(install.code, `${install.stdout}\n${install.stderr}`).toBe(0);
}, 300_000);

afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});
afterEach(cleanupAll);

// It runs Node 20 and Node 22 itself: the suite's second pass on Node 22 (npm run test:node22) skips it.
describe.skipIf(process.env.PIDONE_TEST_NODE)("the npm package", () => {
  it("holds the bundle, the launcher, koffi for linux x64/arm64 (glibc and musl), README and LICENSE, nothing else, within 10 MB", async () => {
    const list = await run("tar", ["-tzvf", tarball]);
    expect(list.code, list.stderr).toBe(0);
    const files = list.stdout.trim().split("\n").map((line) => {
      const m = /^\S+\s+\S+\s+(\d+)\s+\S+\s+\S+\s+package\/(.+)$/.exec(line);
      if (!m) throw new Error(`unexpected tar line: ${line}`);
      return { size: Number(m[1]), file: m[2] as string };
    });
    const names = files.map((f) => f.file);
    for (const want of ["bin/pidone", "dist/pidone.cjs", "dist/pidone-main.cjs", "README.md", "LICENSE",
      ...["linux_x64", "musl_x64", "linux_arm64", "musl_arm64"].map((t) => `dist/koffi/${t}/koffi.node`)]) {
      expect(names, want).toContain(want);
    }
    expect(names.filter((n) => /^(src|test|bench|tools|\.ci|scripts|examples)\//.test(n))).toEqual([]);
    expect(names.filter((n) => !ALLOWED.some((re) => re.test(n)))).toEqual([]);
    const unpacked = files.reduce((n, f) => n + f.size, 0);
    expect(unpacked).toBeLessThanOrEqual(MAX_UNPACKED);
    const pkg = JSON.parse(readFileSync(path.join(prefix, "lib/node_modules/pidone/package.json"), "utf8")) as Record<string, unknown>;
    expect(pkg.private).toBeUndefined();
    expect(pkg.dependencies ?? {}).toEqual({});
    // The installed tree is the package and nothing fetched: no node_modules below it.
    expect(existsSync(path.join(prefix, "lib/node_modules/pidone/node_modules"))).toBe(false);
  });

  it("npx runs it from the tarball, with no registry", async () => {
    const npx = await run("npx", ["--yes", "--offline", "--cache", path.join(base, "npx-cache"), "--registry", "http://127.0.0.1:9/", `--package=${tarball}`, "--", "pidone", "--version"],
      { cwd: base, env: cleanEnv() as Record<string, string>, timeoutMs: 60_000 });
    expect(npx.code, `${npx.stdout}\n${npx.stderr}`).toBe(0);
    expect(npx.stdout.trim()).toBe(version);
  });

  it.each([
    ["Node 20", process.execPath],
    ["Node 22", NODE22],
  ])("the installed pidone on %s: --version, PID 1 restarting on SIGUSR1, restart and sync --once, status, logs, the app's exit code passed", async (_name, node) => {
    expect(existsSync(node), `${node} missing: npm run node22`).toBe(true);
    const bin = path.join(prefix, "bin/pidone");
    // The bin link's shebang (`#!/usr/bin/env node`) finds this node first on PATH.
    const v = await run(bin, ["--version"], { env: { PATH: `${path.dirname(node)}:${process.env.PATH ?? ""}` } });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe(version);

    const dir = mkdtempSync(path.join(base, "app-"));
    const local = path.join(dir, "local");
    const remote = path.join(dir, "remote");
    mkdirSync(local);
    mkdirSync(remote);
    const app = (tag: string) => `console.log("app READY ${tag} " + process.pid);\nprocess.on("SIGTERM", () => process.exit(7));\nsetInterval(() => {}, 1e9);\n`;
    writeFileSync(path.join(remote, "app.js"), app("v0"));
    const p = startPidone({ node, bundle: bin, args: ["--restart", "never", "--", process.execPath, path.join(remote, "app.js")] });
    await p.waitForStdout(/app READY v0 \d+/, 30_000);
    await p.waitForEvent("ready", undefined, 30_000);
    p.signal("SIGUSR1");
    const [first, second] = await p.waitForStdout(/app READY v0 (\d+)/, 30_000, 2);
    expect(second?.[1], p.output()).not.toBe(first?.[1]);
    // The installed client: `pidone restart` prints the new app's pid, `pidone status` reports it.
    const client = (args: string[]) => run(node, [bin, ...args], { env: { PIDONE_CONTROL_SOCKET: p.socket }, timeoutMs: 30_000 });
    const restarted = await client(["restart"]);
    expect(restarted.code, `${restarted.stderr}\n${p.output()}`).toBe(0);
    const third = (await p.waitForStdout(/app READY v0 (\d+)/, 30_000, 3))[2]?.[1];
    expect(restarted.stdout.trim()).toBe(third);
    const status = await client(["status", "--json"]);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: "running", pid: Number(third), generation: 3 });
    // `pidone logs`: the generation's kept output, the app's own line.
    const logs = await client(["logs"]);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toBe(`app READY v0 ${third}\n`);

    writeFileSync(path.join(local, "app.js"), app("v1"));
    const sync = await run(node, [bin, "sync", "--json", "--once", local, remote, "--via", `env PIDONE_CONTROL_SOCKET=${p.socket}`, "--remote-command", `${node} ${bin}`],
      { env: cleanEnv() as Record<string, string>, timeoutMs: 60_000 });
    expect(sync.code, `${sync.stdout}\n${sync.stderr}\n${p.output()}`).toBe(0);
    expect(readFileSync(path.join(remote, "app.js"), "utf8")).toBe(app("v1"));
    await p.waitForStdout(/app READY v1 \d+/, 30_000);

    // A stop: the app exits 7 on SIGTERM, and pidone exits with that code.
    p.signal("SIGTERM");
    const exit = await p.waitExit(30_000);
    expect(exit.code, p.output()).toBe(7);
  });
});
