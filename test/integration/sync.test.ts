// `pidone sync` end to end: the sender from the built bundle, `pidone receive` run through a
// local transport prefix (`env PIDONE_CONTROL_SOCKET=...`), and a real pidone as PID 1 whose app
// is the synced code. Every wait is for an event (a sync JSON event, a pidone log line).
import { afterEach, describe, expect, it } from "vitest";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BUNDLE, cleanupAll, run, startPidone } from "../helpers/pidone.js";
import { cleanEnv, cleanupSyncs, localVia, snapshot, startSync } from "../helpers/sync.js";
import { descendants } from "../helpers/proc.js";
import { readable } from "../helpers/readable.js";

const dirs: string[] = [];
afterEach(async () => {
  await cleanupSyncs();
  await cleanupAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDirs() {
  const base = mkdtempSync(path.join(tmpdir(), "pidone-sync-"));
  dirs.push(base);
  const local = path.join(base, "local");
  const remote = path.join(base, "remote");
  mkdirSync(local);
  mkdirSync(remote);
  return { base, local, remote };
}

const APP = (tag: string) => `console.log("app READY ${tag}"); setInterval(() => {}, 1e9);\n`;

/** A pidone (PID 1) running `node REMOTE/app.js`. */
async function pidoneOn(remote: string, tag = "v0") {
  writeFileSync(path.join(remote, "app.js"), APP(tag));
  const p = startPidone({ args: ["--", process.execPath, path.join(remote, "app.js")] });
  await p.waitForStdout(/app READY/);
  await p.waitForEvent("ready");
  return p;
}

const runSyncOnce = (args: string[]) => run(process.execPath, [BUNDLE, "sync", "--json", "--once", ...args], { env: cleanEnv() as Record<string, string>, timeoutMs: 30_000 });
const events = (stdout: string) => stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);

describe("pidone sync --once", () => {
  it("sends only what differs (ignored paths never), restarts the app once, then finds the trees in sync; --delete removes remote-only files", async () => {
    const { local, remote } = tempDirs();
    const p = await pidoneOn(remote);
    writeFileSync(path.join(local, "app.js"), APP("v1"));
    mkdirSync(path.join(local, "lib/deep"), { recursive: true });
    writeFileSync(path.join(local, "lib/x.txt"), "x content");
    writeFileSync(path.join(local, "lib/same.txt"), "same");
    writeFileSync(path.join(local, "run.sh"), "#!/bin/sh\n");
    chmodSync(path.join(local, "run.sh"), 0o755);
    mkdirSync(path.join(local, "empty"));
    symlinkSync("lib/x.txt", path.join(local, "link"));
    symlinkSync("/etc/passwd", path.join(local, "outside")); // refused: absolute
    symlinkSync("../../x", path.join(local, "lib/up")); // refused: escapes
    mkdirSync(path.join(local, "node_modules/pkg"), { recursive: true });
    writeFileSync(path.join(local, "node_modules/pkg/index.js"), "");
    mkdirSync(path.join(local, "__pycache__"));
    writeFileSync(path.join(local, "__pycache__/m.pyc"), "");
    writeFileSync(path.join(local, "m.pyc"), "");
    writeFileSync(path.join(local, "notes.swp"), "");
    writeFileSync(path.join(local, ".gitignore"), "secret.env\n");
    writeFileSync(path.join(local, "secret.env"), "K=V");
    writeFileSync(path.join(local, "lib/.gitignore"), "build/\n");
    mkdirSync(path.join(local, "lib/build"));
    writeFileSync(path.join(local, "lib/build/out.o"), "");
    mkdirSync(path.join(local, "build")); // lib/.gitignore's build/ is relative to lib/: this one is sent
    writeFileSync(path.join(local, "skipme.log"), "");
    // Already on the remote: identical content with another mtime (hashed, not sent), a remote-only file.
    mkdirSync(path.join(remote, "lib"));
    writeFileSync(path.join(remote, "lib/same.txt"), "same");
    utimesSync(path.join(remote, "lib/same.txt"), new Date(2000, 1, 1), new Date(2000, 1, 1));
    writeFileSync(path.join(remote, "extra.txt"), "only here");

    const args = [local, remote, ...localVia(p.socket), "--ignore", "*.log"];
    const r1 = await runSyncOnce(args);
    expect(r1.code, r1.stdout + r1.stderr).toBe(0);
    const synced = events(r1.stdout).find((e) => e.event === "synced") as Record<string, any>;
    expect(synced, r1.stdout).toBeDefined();
    // app.js, .gitignore, lib/.gitignore, lib/x.txt, run.sh, link: 6 files; same.txt was equal.
    expect(synced.files).toBe(6);
    expect(synced.restart.kind).toBe("up");
    expect(r1.stderr).toMatch(/not syncing symlink outside -> \/etc\/passwd/);
    expect(r1.stderr).toMatch(/not syncing symlink lib\/up -> \.\.\/\.\.\/x/);
    await p.waitForStdout(/app READY v1/);
    const restart = await p.waitForEvent("restart");
    expect(restart.source).toBe("control");
    expect(synced.restart.newPid).toBe(restart.newPid);

    const expected = snapshot(local, ["node_modules", "__pycache__", "outside", "up", "m.pyc", "notes.swp", "secret.env", "skipme.log"]);
    delete expected["lib/build"];
    delete expected["lib/build/out.o"];
    expect(snapshot(remote, ["extra.txt"])).toEqual(expected);
    expect(readFileSync(path.join(remote, "extra.txt"), "utf8")).toBe("only here");

    const r2 = await runSyncOnce(args);
    expect(r2.code, r2.stdout + r2.stderr).toBe(0);
    expect(events(r2.stdout).map((e) => e.event)).toEqual(["connected", "in-sync"]);

    const r3 = await runSyncOnce([...args, "--delete", "--no-restart"]);
    expect(r3.code, r3.stdout + r3.stderr).toBe(0);
    const s3 = events(r3.stdout).find((e) => e.event === "synced") as Record<string, any>;
    expect(s3).toMatchObject({ files: 0, deletes: 1, restart: { kind: "skipped" } });
    expect(snapshot(remote)).toEqual(expected);
    expect(p.all("restart")).toHaveLength(1);
  });

  it("a part of LOCAL_DIR this user cannot read is warned about once, not sent and not deleted remotely; the rest syncs (as uid 65534)", async () => {
    const { base, local, remote } = tempDirs();
    writeFileSync(path.join(local, "a.txt"), "a");
    mkdirSync(path.join(local, "secret"));
    writeFileSync(path.join(local, "secret/s.txt"), "local secret");
    writeFileSync(path.join(local, "unreadable.txt"), "local unreadable");
    mkdirSync(path.join(remote, "secret"));
    writeFileSync(path.join(remote, "secret/s.txt"), "remote secret");
    writeFileSync(path.join(remote, "unreadable.txt"), "remote unreadable");
    writeFileSync(path.join(remote, "extra.txt"), "remote-only");
    chmodSync(path.join(local, "secret"), 0o000);
    chmodSync(path.join(local, "unreadable.txt"), 0o000);
    await run("chown", ["-R", "65534:65534", base]);
    chmodSync(base, 0o755);
    const r = await run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", readable(process.execPath), readable(BUNDLE), "sync", "--json", "--once", "--delete", "--no-restart",
      local, remote, "--via", "", "--remote-command", `${readable(process.execPath)} ${readable(BUNDLE)}`], { env: cleanEnv({ HOME: "/" }) as Record<string, string>, timeoutMs: 30_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr.trim().split("\n").sort()).toEqual([
      "pidone sync: cannot read secret in LOCAL_DIR (EACCES): not sent, and its remote copy is left alone",
      "pidone sync: cannot read unreadable.txt in LOCAL_DIR (EACCES): not sent, and its remote copy is left alone",
    ]);
    // --delete removed what LOCAL_DIR really lacks, nothing that only could not be read.
    expect(snapshot(remote)).toEqual({ "a.txt": "file - a", secret: "dir", "secret/s.txt": "file - remote secret", "unreadable.txt": "file - remote unreadable" });
  });

  it("prints the human report line", async () => {
    const { local, remote } = tempDirs();
    const p = await pidoneOn(remote);
    writeFileSync(path.join(local, "app.js"), APP("v1"));
    const r = await run(process.execPath, [BUNDLE, "sync", "--once", local, remote, ...localVia(p.socket)], { env: cleanEnv() as Record<string, string>, timeoutMs: 30_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^pidone sync: synced 1 file \(\d+ B\) in \d+ ms; restarted pid \d+ -> \d+ in \d+ ms; up \d+\.\d s \(no readiness check\)$/m);
  });

  it("exit codes: 2 for usage, 3 when the transport cannot run, 1 when the restart fails", async () => {
    const { local, remote, base } = tempDirs();
    const noVia = await run(process.execPath, [BUNDLE, "sync", local, remote], { env: cleanEnv() as Record<string, string> });
    expect(noVia.code).toBe(2);
    expect(noVia.stderr).toMatch(/--via/);
    const badQuote = await run(process.execPath, [BUNDLE, "sync", local, remote, "--via", "ssh 'host"], { env: cleanEnv() as Record<string, string> });
    expect(badQuote.code).toBe(2);
    expect(badQuote.stderr).toMatch(/unterminated '/);
    const noLocal = await runSyncOnce([path.join(base, "nope"), remote, "--via", ""]);
    expect(noLocal.code).toBe(2);
    const noTransport = await runSyncOnce([local, remote, "--via", "no-such-transport-xyz -i pod --"]);
    expect(noTransport.code, noTransport.stdout + noTransport.stderr).toBe(3);
    expect(noTransport.stdout).toMatch(/cannot run 'no-such-transport-xyz': ENOENT/);
    const noRemoteDir = await runSyncOnce([local, path.join(base, "missing"), ...localVia(path.join(base, "sock"))]);
    expect(noRemoteDir.code, noRemoteDir.stdout + noRemoteDir.stderr).toBe(3);
    expect(noRemoteDir.stderr).toMatch(/REMOTE_DIR .*missing.*ENOENT/);
    writeFileSync(path.join(local, "a.txt"), "a");
    const noPidone = await runSyncOnce([local, remote, ...localVia(path.join(base, "no.sock"))]);
    expect(noPidone.code, noPidone.stdout + noPidone.stderr).toBe(1);
    expect(events(noPidone.stdout).find((e) => e.event === "synced")).toMatchObject({ files: 1, restart: { kind: "failed" } });
    expect(readFileSync(path.join(remote, "a.txt"), "utf8")).toBe("a");
  });
});

describe("pidone sync (watching)", () => {
  it("each settled batch is applied and restarts the app once; a crash is reported with its status, and the fix restarts it", async () => {
    const { local, remote } = tempDirs();
    const p = await pidoneOn(remote);
    writeFileSync(path.join(local, "app.js"), APP("v0"));
    const s = startSync([local, remote, ...localVia(p.socket)]);
    await s.waitFor("connected");
    // The reconcile: app.js has another mtime but the same content (hashed): nothing to send.
    await s.waitFor("in-sync");
    const base = s.all("synced").length;
    const controlRestarts = () => p.all("restart").filter((e) => e.source === "control").length;
    const restartsBefore = controlRestarts();

    writeFileSync(path.join(local, "app.js"), APP("v1"));
    mkdirSync(path.join(local, "pkg"));
    writeFileSync(path.join(local, "pkg/mod.js"), "module.exports = 1;\n");
    const b1 = await s.waitFor("synced", base + 1);
    expect(b1).toMatchObject({ files: 2, restart: { kind: "up" } });
    await p.waitForStdout(/app READY v1/);
    expect(readFileSync(path.join(remote, "pkg/mod.js"), "utf8")).toBe("module.exports = 1;\n");

    writeFileSync(path.join(local, "app.js"), "process.exit(3);\n");
    // The crash is in the batch's report when the app dies within the up-window, or comes as a
    // `crashed` notice when it takes longer to start (Node under load) and then dies.
    const crash = await s.until(() => {
      const r = s.all("synced")[base + 1]?.restart as { kind: string; status?: string } | undefined;
      if (r?.kind === "crashed") return r.status;
      const n = s.all("crashed")[0];
      return n ? String(n.status) : undefined;
    }, "the crash of the new generation reported");
    expect(crash).toBe("exit 3");
    expect(s.stdout).not.toContain("FAILED");

    writeFileSync(path.join(local, "app.js"), APP("v2"));
    const fixed = await s.waitFor("synced", base + 3);
    expect(fixed.restart).toMatchObject({ kind: "up" });
    await p.waitForStdout(/app READY v2/);

    // A generation that dies well after the up-window is still reported, as a notice.
    writeFileSync(path.join(local, "app.js"), "setTimeout(() => process.exit(4), 1500); setInterval(() => {}, 1e9);\n");
    const late = await s.waitFor("synced", base + 4);
    expect(late.restart).toMatchObject({ kind: "up" });
    await s.until(() => s.all("crashed").find((e) => e.status === "exit 4"), "a crashed notice with exit 4");
    // Exactly one restart asked for per batch (pidone's own crash restarts have another source).
    expect(controlRestarts(), p.output()).toBe(restartsBefore + 4);
  });

  it("a directory moved away and made again at the same path is watched afresh: what lands in either is synced, what left is deleted", async () => {
    const { local, remote } = tempDirs();
    const p = await pidoneOn(remote);
    writeFileSync(path.join(local, "app.js"), APP("v0"));
    // Three of them: chokidar alone misses the new content most of the time, not always.
    const names = ["pkg", "lib", "util"];
    for (const n of names) {
      mkdirSync(path.join(local, n, "sub"), { recursive: true });
      writeFileSync(path.join(local, n, "old.js"), "old");
    }
    const s = startSync([local, remote, ...localVia(p.socket)]);
    await s.waitFor("synced");
    const settled = (what: string) => {
      const want = snapshot(local);
      return s.until(() => JSON.stringify(snapshot(remote)) === JSON.stringify(want), `${what}\nwant ${JSON.stringify(want)}\nremote ${JSON.stringify(snapshot(remote))}`);
    };

    for (const n of names) {
      renameSync(path.join(local, n), path.join(local, `${n}-moved`));
      mkdirSync(path.join(local, n, "sub"), { recursive: true });
    }
    await settled("after mv DIR DIR-moved; mkdir -p DIR/sub");
    // chokidar alone would report nothing from the new sub/: it still watches the moved one there.
    for (const n of names) {
      writeFileSync(path.join(local, n, "new.js"), "new");
      writeFileSync(path.join(local, n, "sub/deep.js"), "deep");
      writeFileSync(path.join(local, `${n}-moved`, "later.js"), "later");
    }
    await settled("after files written into the new directories and into the moved ones");
    expect(readFileSync(path.join(remote, "pkg/sub/deep.js"), "utf8")).toBe("deep");
    expect(existsSync(path.join(remote, "pkg/old.js"))).toBe(false);
  });

  it("a change below a directory the sender cannot search is unknown, not a deletion (watching, as uid 65534)", async () => {
    const { base, local, remote } = tempDirs();
    for (const root of [local, remote]) {
      mkdirSync(path.join(root, "a/b"), { recursive: true });
      writeFileSync(path.join(root, "a/b/c"), "c");
    }
    await run("chown", ["-R", "65534:65534", base]);
    chmodSync(base, 0o755);
    const s = startSync([local, remote, "--no-restart", "--via", "", "--remote-command", `${readable(process.execPath)} ${readable(BUNDLE)}`], ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
    await s.waitFor("in-sync");
    chmodSync(path.join(local, "a"), 0o600); // listable, not searchable: a/b cannot be lstat'ed
    // Something else (root, the watch on a/b still in place) changes a/b/c: the watcher names it.
    writeFileSync(path.join(local, "a/b/c"), "changed by root");
    writeFileSync(path.join(local, "x"), "x");
    await s.until(() => existsSync(path.join(remote, "x")) && s.all("synced").length > 0, "x synced");
    await s.until(() => s.stderr.includes("cannot read a/b in LOCAL_DIR (EACCES)"), "the warning for a/b");
    expect(readFileSync(path.join(remote, "a/b/c"), "utf8"), s.output()).toBe("c");
    expect(s.exit, s.output()).toBeNull();
  });

  it("a file replaced by a symlink (a loop, or a link to a directory) is sent as the link, and nothing through it", async () => {
    const { local, remote } = tempDirs();
    const p = await pidoneOn(remote);
    writeFileSync(path.join(local, "app.js"), APP("v0"));
    mkdirSync(path.join(local, "d1"));
    mkdirSync(path.join(local, "d2"));
    writeFileSync(path.join(local, "d1/c"), "file");
    writeFileSync(path.join(local, "d2/c"), "behind the link");
    const s = startSync([local, remote, ...localVia(p.socket)]);
    await s.waitFor("synced");
    const settled = (what: string) => {
      const want = snapshot(local);
      return s.until(() => JSON.stringify(snapshot(remote)) === JSON.stringify(want), `${what}\nwant ${JSON.stringify(want)}\nremote ${JSON.stringify(snapshot(remote))}\n${s.output()}`);
    };
    // The watch on the file d1/c reports its replacement as 'c' in d1/c: d1/c/c, through the link.
    rmSync(path.join(local, "d1/c"));
    symlinkSync("../d1/c", path.join(local, "d1/c"));
    await settled("after d1/c became a link to itself");
    rmSync(path.join(local, "d1/c"));
    writeFileSync(path.join(local, "d1/c"), "file again");
    await settled("after d1/c became a file again");
    rmSync(path.join(local, "d1/c"));
    symlinkSync("../d2", path.join(local, "d1/c"));
    await settled("after d1/c became a link to d2");
    writeFileSync(path.join(local, "d2/c"), "changed behind the link");
    await settled("after d2/c changed");
    expect(s.all("disconnected"), s.output()).toEqual([]);
    expect(s.exit, s.output()).toBeNull();
  });

  it("when the transport dies it says so, reconnects, and reconciles: files lost with the container come back, changes and deletions made meanwhile arrive", async () => {
    const { local, remote } = tempDirs();
    const p = await pidoneOn(remote);
    writeFileSync(path.join(local, "app.js"), APP("v1"));
    writeFileSync(path.join(local, "data.txt"), "data");
    writeFileSync(path.join(local, "old.txt"), "deleted while disconnected");
    writeFileSync(path.join(remote, "theirs.txt"), "remote-only");
    const s = startSync([local, remote, ...localVia(p.socket)]);
    await s.waitFor("synced");
    expect(readFileSync(path.join(remote, "data.txt"), "utf8")).toBe("data");

    // The "container" loses its files and the transport dies.
    rmSync(path.join(remote, "data.txt"));
    const receivers = descendants(s.proc.pid as number).filter((x) => x.cmdline.includes(" receive "));
    expect(receivers.length, JSON.stringify(descendants(s.proc.pid as number))).toBeGreaterThan(0);
    for (const r of receivers) process.kill(r.pid, "SIGKILL");
    const lost = await s.waitFor("disconnected");
    expect(String(lost.error)).toMatch(/ended \(signal SIGKILL\)/);
    writeFileSync(path.join(local, "new.txt"), "made while disconnected");
    rmSync(path.join(local, "old.txt"));

    await s.waitFor("connected", 2);
    await s.until(() => {
      try {
        return readFileSync(path.join(remote, "data.txt"), "utf8") === "data" && readFileSync(path.join(remote, "new.txt"), "utf8") === "made while disconnected" && !existsSync(path.join(remote, "old.txt"));
      } catch {
        return false;
      }
    }, "data.txt and new.txt on the remote, old.txt gone, after a synced event");
    expect(s.all("reconnecting").length).toBeGreaterThan(0);
    // Remote-only, never in LOCAL_DIR: left alone without --delete.
    expect(readFileSync(path.join(remote, "theirs.txt"), "utf8")).toBe("remote-only");
  });
});
