// `pidone sync` reports pidone's own account of each restart (the restart answer's outcome), as
// PID 1: with --overlap a handover is "ready" and a broken edit is "kept" (the old pid serves on)
// with the new code's status and traceback; without it, a broken edit is a crash with its
// traceback, pidone stays up and waiting, and the fix serves.
import { afterEach, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BUNDLE, cleanupAll, run, startPidone } from "../helpers/pidone.js";
import { cleanEnv, cleanupSyncs, localVia } from "../helpers/sync.js";
import { freePort, httpGet } from "../helpers/http.js";

const dirs: string[] = [];
afterEach(async () => {
  await cleanupSyncs();
  await cleanupAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The synced app: an HTTP server on the socket pidone hands it (fd 3) answering `tag`, or code
 *  that throws at load. */
const SERVER = (tag: string) =>
  `require("node:http").createServer((q, s) => s.end("${tag} " + process.pid)).listen({ fd: 3 }, () => console.log("app READY ${tag}"));\n`;
const BROKEN = `throw new Error("BROKEN-EDIT");\n`;

const runSyncOnce = (args: string[]) => run(process.execPath, [BUNDLE, "sync", "--json", "--once", ...args], { env: cleanEnv() as Record<string, string>, timeoutMs: 30_000 });
const events = (stdout: string) => stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, any>);
const synced = (stdout: string) => events(stdout).find((e) => e.event === "synced");

async function setUp(extra: string[]) {
  const base = mkdtempSync(path.join(tmpdir(), "pidone-sync-outcome-"));
  dirs.push(base);
  const local = path.join(base, "local");
  const remote = path.join(base, "remote");
  mkdirSync(local);
  mkdirSync(remote);
  writeFileSync(path.join(remote, "app.js"), SERVER("v0"));
  const port = await freePort();
  const p = startPidone({ args: ["--listen", `127.0.0.1:${port}`, ...extra, "--", process.execPath, path.join(remote, "app.js")] });
  await p.waitForStdout(/app READY v0/);
  await p.waitForEvent("ready");
  const sync = (code: string) => {
    writeFileSync(path.join(local, "app.js"), code);
    return runSyncOnce([local, remote, ...localVia(p.socket)]);
  };
  return { p, port, sync, local, remote };
}

describe("the sync report comes from pidone's restart outcome", () => {
  it("--overlap: the handover is ready; a broken edit is kept (the old pid serving, the new code's status and traceback); the fix is ready", async () => {
    const { p, port, sync, local, remote } = await setUp(["--overlap"]);
    const servingPid = Number((await httpGet(port, "/", 5000)).body.split(" ")[1]);
    const ok = await sync(SERVER("v1"));
    expect(ok.code, `${ok.stdout}\n${ok.stderr}\n${p.output()}`).toBe(0);
    expect(synced(ok.stdout)?.restart).toMatchObject({ kind: "ready", how: "handover", oldPid: servingPid });
    const v1 = Number((await httpGet(port, "/", 5000)).body.split(" ")[1]);
    expect(synced(ok.stdout)?.restart.newPid).toBe(v1);

    const broken = await sync(BROKEN);
    expect(broken.code, `${broken.stdout}\n${broken.stderr}\n${p.output()}`).toBe(1);
    expect(synced(broken.stdout)?.restart).toMatchObject({ kind: "kept", oldPid: v1, status: "exit 1", tail: expect.stringContaining("BROKEN-EDIT") });
    // The restart event carries the tail with the container's path shown under LOCAL_DIR.
    const restartEvent = events(broken.stdout).find((e) => e.event === "restart");
    expect(restartEvent?.tail, broken.stdout).toContain(`${local}/app.js:1`);
    expect(restartEvent?.tail).not.toContain(`${remote}/app.js`);
    expect((await httpGet(port, "/", 5000)).body).toBe(`v1 ${v1}`);

    const fixed = await sync(SERVER("v2"));
    expect(fixed.code, `${fixed.stdout}\n${fixed.stderr}`).toBe(0);
    expect(synced(fixed.stdout)?.restart).toMatchObject({ kind: "ready", how: "handover", oldPid: v1 });
    expect((await httpGet(port, "/", 5000)).body).toMatch(/^v2 /);
  }, 60_000);

  it("without --overlap: a broken edit is a crash and pidone waits (no backoff); the fix serves", async () => {
    const { p, port, sync } = await setUp([]);
    const broken = await sync(BROKEN);
    expect(broken.code, `${broken.stdout}\n${broken.stderr}\n${p.output()}`).toBe(1);
    expect(synced(broken.stdout)?.restart).toMatchObject({ kind: "crashed", status: "exit 1", tail: expect.stringContaining("BROKEN-EDIT") });
    await p.waitForEvent("app-crashed-after-change");
    expect(p.all("backoff")).toEqual([]);
    const fixed = await sync(SERVER("v1"));
    expect(fixed.code, `${fixed.stdout}\n${fixed.stderr}\n${p.output()}`).toBe(0);
    expect(synced(fixed.stdout)?.restart).toMatchObject({ kind: "up" });
    expect((await httpGet(port, "/", 5000)).body).toMatch(/^v1 /);
  }, 60_000);
});
