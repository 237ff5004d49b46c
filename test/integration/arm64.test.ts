// The linux-arm64 standalone directory (scripts/standalone.mjs --arch arm64, what the arm64 init
// image carries), run on this x86-64 machine under qemu-user-static: pidone's arm64 node, through
// the directory's own loader, as PID 1 of a PID namespace chrooted into a root made of the
// standalone and busybox-static for arm64 (the app). One pidone start, for time: emulated, node
// starts in about a second. What this cannot show (timing, a real arm64 kernel) is in the README.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { chmodSync, closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, cleanupAll, run, startPidone } from "../helpers/pidone.js";
import { zombies } from "../helpers/proc.js";

const EM_AARCH64 = 183;
/** The standalone's place in the root, as in the overlay's app container. */
const DIR = "/pidone";
const LOADER_FORM = [`${DIR}/lib/ld.so`, "--library-path", `${DIR}/lib`, `${DIR}/node`, `${DIR}/pidone.cjs`];
// Traps TERM (exit 7), leaves an orphan (the subshell's sleep, re-parented to PID 1) and reports
// its pid and the machine it runs as, then waits.
const APP = `trap 'exit 7' TERM; (sleep 2 & echo "ORPHAN $!"); echo "APP READY $$ $(uname -m)"; sleep 1000 & wait`;

/** Whether arm64 binaries run here (qemu-user-static registered with binfmt_misc), and if not, why. */
function emulation(): { ok: boolean; reason: string } {
  let status: string;
  try {
    status = readFileSync("/proc/sys/fs/binfmt_misc/qemu-aarch64", "utf8");
  } catch {
    return { ok: false, reason: "no binfmt_misc entry for qemu-aarch64 (apt-get install qemu-user-static binfmt-support, with /proc/sys/fs/binfmt_misc mounted)" };
  }
  return status.startsWith("enabled") ? { ok: true, reason: "" } : { ok: false, reason: "binfmt_misc's qemu-aarch64 entry is disabled (update-binfmts --enable qemu-aarch64)" };
}

function elfMachine(file: string): number {
  const fd = openSync(file, "r");
  try {
    const b = Buffer.alloc(20);
    readSync(fd, b, 0, 20, 0);
    return b.readUInt16LE(18);
  } finally {
    closeSync(fd);
  }
}

const em = emulation();
if (!em.ok) console.warn(`arm64 test skipped: ${em.reason}`);
let base = "";

beforeAll(async () => {
  if (!em.ok || process.env.PIDONE_TEST_NODE) return;
  base = mkdtempSync(path.join(tmpdir(), "pidone-arm64-"));
  const built = await run(process.execPath, [path.join(ROOT, "scripts/standalone.mjs"), path.join(base, DIR), "--arch", "arm64"], { timeoutMs: 240_000 });
  expect(built.code, `${built.stdout}\n${built.stderr}`).toBe(0);
  const busybox = execFileSync(process.execPath, [path.join(ROOT, "scripts/arm64.mjs"), "busybox"], { encoding: "utf8", timeout: 120_000 }).trim().replace(/^arm64 busybox: /, "");
  mkdirSync(path.join(base, "bin"));
  copyFileSync(busybox, path.join(base, "bin/busybox"));
  chmodSync(path.join(base, "bin/busybox"), 0o755);
  for (const applet of ["sh", "sleep", "uname"]) symlinkSync("busybox", path.join(base, "bin", applet));
  for (const d of ["proc", "tmp", "dev"]) mkdirSync(path.join(base, d));
  // The shell opens /dev/null as its background jobs' stdin; they only need it to read as empty.
  writeFileSync(path.join(base, "dev/null"), "");
}, 300_000);

afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});
afterEach(cleanupAll);

// Its pidone is the arm64 node whatever PIDONE_TEST_NODE says: the suite's Node 22 pass skips it.
describe.skipIf(!em.ok || process.env.PIDONE_TEST_NODE)(`the linux-arm64 standalone under qemu-user-static${em.ok ? "" : ` (skipped: ${em.reason})`}`, () => {
  it("as PID 1: restarts the app on SIGUSR1 and on `pidone restart`, reaps an orphan, passes the app's exit code", async () => {
    expect(elfMachine(path.join(base, DIR, "node")), "the standalone's node is an aarch64 binary").toBe(EM_AARCH64);
    expect(elfMachine(path.join(base, "bin/busybox")), "the app is an aarch64 binary").toBe(EM_AARCH64);
    const [node, ...nodeArgs] = LOADER_FORM.slice(0, 4) as [string, ...string[]];
    const p = startPidone({
      node,
      nodeArgs,
      bundle: `${DIR}/pidone.cjs`,
      args: ["--log-level", "debug", "--restart", "never", "--", "/bin/sh", "-c", APP],
      // Among unshare's options: chroot into the root, cd to /tmp (proc is mounted after the chroot).
      wrap: [`--root=${base}`, "--wd=/tmp"],
      cwd: path.join(base, "tmp"),
      env: { PIDONE_CONTROL_SOCKET: "/tmp/pidone.sock", PATH: "/bin" },
    });
    const ready = await p.waitForEvent("ready", undefined, 120_000);
    expect(ready.pid, p.output()).toBe(1);
    const [app] = await p.waitForStdout(/APP READY (\d+) (\S+)\n/, 60_000);
    expect(app?.[2], p.output()).toBe("aarch64");
    // koffi's arm64 module loaded: pidone reaps with waitid, not a fallback. The code cache the
    // standalone build made (also emulated) is taken.
    expect(p.all("reaper-unavailable"), p.output()).toEqual([]);
    expect(p.all("code-cache").map((e) => e.state), p.output()).toEqual(["hit"]);

    const [orphan] = await p.waitForStdout(/ORPHAN (\d+)\n/, 60_000);
    const orphanPid = Number(orphan?.[1]);
    await p.waitForEvent("reaped", (e) => (e.pids as number[] | undefined)?.includes(orphanPid) === true, 60_000);
    expect(zombies(p.pid1), p.output()).toEqual([]);

    p.signal("SIGUSR1");
    const bySignal = await p.waitForEvent("restart", undefined, 60_000, 1);
    expect(bySignal.source, p.output()).toBe("signal");
    await p.waitForStdout(new RegExp(`APP READY ${bySignal.newPid} aarch64\\n`), 60_000);

    // The arm64 client, in the same root (outside the PID namespace), over the control socket.
    const client = await run("chroot", [base, ...LOADER_FORM, "restart"], { env: { PIDONE_CONTROL_SOCKET: "/tmp/pidone.sock" }, timeoutMs: 120_000 });
    expect(client.code, `${client.stdout}\n${client.stderr}\n${p.output()}`).toBe(0);
    const byControl = await p.waitForEvent("restart", undefined, 60_000, 2);
    expect(byControl.source, p.output()).toBe("control");
    expect(client.stdout.trim()).toBe(String(byControl.newPid));
    await p.waitForStdout(new RegExp(`APP READY ${byControl.newPid} aarch64\\n`), 60_000);

    p.signal("SIGTERM");
    const exit = await p.waitExit(60_000);
    expect(exit.code, p.output()).toBe(7);
  });
});
