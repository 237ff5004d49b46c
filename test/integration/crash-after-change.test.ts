// The crash rule as PID 1: a generation a change started that exits at once waits for the fix
// (pidone, its sockets and the container stay up, however many broken restarts come), `pidone
// restart` says what happened and exits 5; a crash with no change in play still gives up with the
// app's status, and --every-crash-counts keeps that rule for every crash.
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BUNDLE, FIXTURES, cleanupAll, run, startPidone, type Pidone } from "../helpers/pidone.js";
import { freePort, httpGet } from "../helpers/http.js";
import { zombies } from "../helpers/proc.js";

const dirs: string[] = [];
afterEach(async () => {
  await cleanupAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const APP = path.join(FIXTURES, "edit-app.py");
const MAX_RESTARTS = 2;

const client = (p: Pidone, ...args: string[]) => run(process.execPath, [BUNDLE, ...args], { env: { PIDONE_CONTROL_SOCKET: p.socket }, timeoutMs: 20_000 });
const edit = (p: Pidone, mode: string) => writeFileSync(path.join(p.dir, "mode"), `${mode}\n`);
const statusOf = async (p: Pidone) => {
  const out = await client(p, "status", "--json");
  expect(out.code, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as Record<string, unknown> & { state: string; lastCrash?: Record<string, unknown> };
};

async function started(args: string[] = []): Promise<Pidone> {
  const p = startPidone({ args: ["--max-restarts", String(MAX_RESTARTS), ...args, "--", "python3", APP] });
  await p.waitForStdout(/app READY \d+ ok/);
  await p.waitForEvent("ready");
  return p;
}

describe("a restart into broken code waits for the fix", () => {
  it(`${MAX_RESTARTS + 2} restarts into code that fails at import: pidone stays up, each pidone restart exits 5 with the status; the fix serves`, async () => {
    const port = await freePort();
    const p = await started(["--health", `127.0.0.1:${port}`]);
    edit(p, "broken");
    for (let i = 1; i <= MAX_RESTARTS + 2; i++) {
      // A long settle window: on a loaded machine Python may take over a second to fail; the
      // answer comes as soon as it exits.
      const out = await client(p, "restart", "--settle", "10s");
      expect(out.code, `restart ${i}: ${out.stdout}\n${out.stderr}\n${p.output()}`).toBe(5);
      expect(out.stderr).toMatch(/the new app process \(pid \d+\) exited \(exit 1\) after \d+ ms, before it was ready; pidone waits for the next change/);
      expect(out.stdout).toBe("");
      const crashed = await p.waitForEvent("app-crashed-after-change", () => true, 10_000, i);
      expect(crashed).toMatchObject({ status: "exit 1", upMs: expect.any(Number), changeWindowMs: 10_000 });
    }
    // A restart by another source (the restart signal) waits the same way.
    p.signal("SIGUSR1");
    await p.waitForEvent("app-crashed-after-change", () => true, 10_000, MAX_RESTARTS + 3);
    expect(p.all("gave-up")).toEqual([]);
    expect(p.all("backoff")).toEqual([]);
    expect(p.exit).toBeNull();
    // The faces: status says broken with the status; /livez 200, /readyz 503.
    const st = await statusOf(p);
    expect(st).toMatchObject({ state: "broken", pid: null, lastExit: "exit 1", lastCrash: { status: "exit 1", afterChange: true, pid: expect.any(Number) } });
    const text = await client(p, "status");
    expect(text.stdout).toMatch(/^state: +broken \(the app exited right after a change; waiting for the next change or pidone restart\)$/m);
    expect(text.stdout).toMatch(/^last crash: +generation \d+ \(pid \d+\): exit 1 after \d+ ms, [\d.]+s ago$/m);
    expect((await httpGet(port, "/livez", 5000)).status).toBe(200);
    expect(await httpGet(port, "/readyz", 5000)).toMatchObject({ status: 503, body: "not ready: broken\n" });
    // The fix: the next restart starts it at once and it serves.
    edit(p, "fixed");
    const fixed = await client(p, "restart");
    expect(fixed.code, `${fixed.stderr}\n${p.output()}`).toBe(0);
    expect(fixed.stderr).toMatch(/^pidone restart: pid \d+ up \(stayed up \d+ ms; no readiness check\) after \d+ ms$/m);
    const [m] = await p.waitForStdout(/app READY (\d+) fixed/);
    expect(fixed.stdout.trim()).toBe(m?.[1]);
    expect(await statusOf(p)).toMatchObject({ state: "running", pid: Number(m?.[1]) });
    expect((await httpGet(port, "/readyz", 5000)).status).toBe(200);
    expect(zombies(p.pid1)).toEqual([]);
  }, 90_000);

  it("pidone restart --settle 0 answers once the app runs; --wait running too", async () => {
    const p = await started();
    for (const args of [["--settle", "0"], ["--wait", "running"]]) {
      const out = await client(p, "restart", ...args);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stdout.trim()).toMatch(/^\d+$/);
    }
  }, 30_000);
});

describe("a crash with no change in play still reaches Kubernetes", () => {
  it("code broken from the start: backoff, then pidone gives up with the app's status", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-broken-"));
    dirs.push(dir);
    writeFileSync(path.join(dir, "mode"), "broken\n");
    const p = startPidone({ cwd: dir, args: ["--max-restarts", String(MAX_RESTARTS), "--", "python3", APP] });
    const exit = await p.waitExit(20_000);
    expect(exit.code, p.output()).toBe(1);
    expect(p.all("backoff")).toHaveLength(MAX_RESTARTS);
    expect(p.all("gave-up")).toHaveLength(1);
    expect(p.all("app-crashed-after-change")).toEqual([]);
  }, 30_000);

  it("--every-crash-counts: a restart into broken code goes through the backoff and gives up, as every crash does", async () => {
    const p = await started(["--every-crash-counts"]);
    edit(p, "broken");
    const out = await client(p, "restart", "--settle", "10s");
    expect(out.code, `${out.stderr}\n${p.output()}`).toBe(5);
    const exit = await p.waitExit(20_000);
    expect(exit.code, p.output()).toBe(1);
    expect(p.all("gave-up")).toHaveLength(1);
    expect(p.all("app-crashed-after-change")).toEqual([]);
  }, 30_000);
});
