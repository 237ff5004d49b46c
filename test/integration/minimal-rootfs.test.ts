// pidone in a container-like root file system: the node binary and the libraries ldd names, the
// bundle (dist/ with koffi.node), a tiny app, and nothing else: no shell, no procps, no kill.
// pidone runs there as PID 1 of a new PID namespace, chrooted, with a /proc of its own, which is
// all it needs to signal, restart, reap and stop.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { BUNDLE, FIXTURES, cleanupAll, run, startPidone, type Pidone } from "../helpers/pidone.js";
import { zombies } from "../helpers/proc.js";
import { NODE, PIDONE, buildRootfs, walk } from "../helpers/rootfs.js";

afterEach(cleanupAll);

/** The app's path inside the root file system. */
const APP = "/app/app.js";

let rootfs = "";

beforeAll(() => {
  // The app's working directory /app is writable: the trigger file and the control socket go there.
  rootfs = buildRootfs({ files: { [APP]: path.join(FIXTURES, "rootfs-app.js") } });
});

afterAll(() => {
  if (rootfs) rmSync(rootfs, { recursive: true, force: true });
});

/** Start pidone as PID 1 inside the root file system. */
function startInRootfs(pidoneArgs: string[], appArgs: string[] = []): Pidone {
  return startPidone({
    args: [...pidoneArgs, "--", NODE, APP, ...appArgs],
    // The harness runs `unshare --pid --fork --mount-proc <wrap> node bundle ...`, so these land
    // among unshare's own options: chroot into the rootfs, then cd to /app. unshare mounts the new
    // namespace's proc *after* the chroot, at the rootfs's /proc (util-linux 2.38), inside the new
    // mount namespace: nothing to unmount on the host afterwards.
    wrap: [`--root=${rootfs}`, "--wd=/app"],
    node: NODE,
    bundle: PIDONE,
    cwd: path.join(rootfs, "app"),
    env: { PIDONE_CONTROL_SOCKET: "/app/pidone.sock" },
  });
}

describe("pidone in a minimal root file system (no shell, no procps, no kill)", () => {
  it("the root file system has node, the bundle and the app, and no ps, pgrep, kill or shell", () => {
    const names = walk(rootfs).map((f) => path.basename(f));
    for (const tool of ["ps", "pgrep", "pkill", "kill", "killall", "sh", "bash", "busybox"]) {
      expect(names, `rootfs contains ${tool}`).not.toContain(tool);
    }
    for (const f of [NODE, PIDONE, APP]) expect(existsSync(path.join(rootfs, f)), f).toBe(true);
  });

  it("restarts by signal, trigger file and `pidone restart`, with no older generation left", async () => {
    const p = startInRootfs(["--stop-timeout", "5s"]);
    const ready = await p.waitForEvent("ready");
    expect(ready.pid, p.output()).toBe(1);
    expect(readlinkSync(`/proc/${p.pid1}/root`), "pidone runs chrooted").toBe(realpathSync(rootfs));
    const spawned = await p.waitForEvent("spawned");
    await p.waitForStdout(new RegExp(`APP READY ${spawned.pid}\\n`));
    expect(p.all("reaper-unavailable"), p.output()).toEqual([]);
    const app = p.tree().find((x) => x.ppid === p.pid1);
    expect(app?.cmdline, p.output()).toBe(`${NODE} ${APP}`);

    let oldPid = spawned.pid as number;
    const requests: [string, () => Promise<void>][] = [
      ["signal", async () => p.signal("SIGUSR1")],
      ["trigger-file", async () => writeFileSync(path.join(p.dir, ".restart_trigger"), "")],
      ["control", async () => {
        // A client on the host reaches the socket through the rootfs's path to it.
        const res = await run(process.execPath, [BUNDLE, "restart"], { env: { PIDONE_CONTROL_SOCKET: p.socket } });
        expect(res.code, `${res.stderr}\n${p.output()}`).toBe(0);
      }],
    ];
    for (const [i, [source, request]] of requests.entries()) {
      const before = new Set(p.tree().map((x) => x.pid));
      await request();
      const ev = await p.waitForEvent("restart", undefined, 10_000, i + 1);
      expect(ev.source, p.output()).toBe(source);
      expect(ev.oldPid, p.output()).toBe(oldPid);
      await p.waitForStdout(new RegExp(`APP READY ${ev.newPid}\\n`));
      const stale = p.tree().filter((x) => before.has(x.pid));
      expect(stale, `older generation left after restart by ${source}\n${p.output()}`).toEqual([]);
      expect(zombies(p.pid1), p.output()).toEqual([]);
      oldPid = ev.newPid as number;
    }
    expect(existsSync(path.join(p.dir, ".restart_trigger")), "pidone removes the trigger file").toBe(false);

    p.signal("SIGTERM");
    const exit = await p.waitExit(10_000);
    expect(exit.code, p.output()).toBe(0);
    expect(p.all("exit").at(-1)?.code, p.output()).toBe(0);
  });

  it("reaps orphans the app leaves behind: zero zombies", async () => {
    const n = 4;
    const p = startInRootfs(["--log-level", "debug"], ["orphans", String(n)]);
    await p.waitForEvent("ready");
    await p.waitForStdout(/MIDDLE EXITED 0\n/);
    const ready = await p.waitForStdout(/ORPHAN READY (\d+)\n/, 10_000, n);
    const orphans = ready.map((m) => Number(m[1]));
    // Their parent is gone: they are PID 1's now (host view: pidone's host pid).
    const adopted = p.tree().filter((x) => x.ppid === p.pid1 && x.cmdline.includes("ORPHAN READY"));
    expect(adopted.length, p.output()).toBe(n);

    // pidone forwards SIGUSR2 to the app's process group; the orphans are still in it and exit.
    p.signal("SIGUSR2");
    await p.until(() => reapedSoFar(p).length >= n ? true : undefined, `pidone to reap ${n} orphans`);
    expect(reapedSoFar(p).sort(), p.output()).toEqual(orphans.sort());
    expect(zombies(p.pid1), p.output()).toEqual([]);
    expect(p.tree().map((x) => x.cmdline), p.output()).toEqual([`${NODE} ${APP} orphans ${n}`]);

    p.signal("SIGTERM");
    const exit = await p.waitExit(10_000);
    expect(exit.code, p.output()).toBe(0);
  });
});

// --- local helpers ---------------------------------------------------------------------------

/** Pids pidone logged as reaped (debug event `reaped`). */
function reapedSoFar(p: Pidone): number[] {
  return p.all("reaped").flatMap((e) => e.pids as number[]);
}
