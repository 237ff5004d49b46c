// A fault in one part turns that part off or makes it fall back; it never ends pidone while the
// app runs. inotify limits are per user namespace (/proc/sys/user/max_inotify_*), so each test
// runs pidone as PID 1 in a user namespace of its own whose limit is 0: fs.watch and chokidar
// get EMFILE (no instance) or ENOSPC (no watch), as on a busy Kubernetes node.
import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { FIXTURES, cleanupAll, startPidone } from "../helpers/pidone.js";
import { zombies } from "../helpers/proc.js";

const dirs: string[] = [];
afterEach(async () => {
  await cleanupAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const S = path.join(FIXTURES, "signals.py");

/** Start pidone with one inotify limit of its user namespace set to 0. */
function withoutInotify(limit: "max_inotify_instances" | "max_inotify_watches", args: string[], cwd?: string) {
  return startPidone({
    args,
    cwd,
    unshare: ["--user", "--map-root-user"],
    wrap: ["sh", "-c", `echo 0 > /proc/sys/user/${limit} && exec "$@"`, "sh"],
  });
}

describe("inotify exhausted after the spawn", () => {
  it.each(["max_inotify_instances", "max_inotify_watches"] as const)(
    "%s = 0: the trigger file falls back to polling with one warning, and still restarts the app",
    async (limit) => {
      const p = withoutInotify(limit, ["--", S]);
      await p.waitForStdout(/app READY/);
      const degraded = await p.waitForEvent("source-degraded");
      expect(degraded).toMatchObject({ source: "trigger-file", fallback: "polling", level: 40 });
      expect(["EMFILE", "ENOSPC"]).toContain(degraded.error);
      const ready = await p.waitForEvent("ready");
      expect(ready.sources).toContain("trigger-file");
      const trigger = path.join(p.dir, ".restart_trigger");
      writeFileSync(trigger, "");
      const ev = await p.waitForEvent("restart", () => true, 10_000);
      expect(ev.source).toBe("trigger-file");
      await p.until(() => !existsSync(trigger), "the trigger file to be removed", 5000, 50);
      expect(p.exit).toBeNull();
      expect(p.all("internal-error")).toEqual([]);
    },
  );

  it("--watch falls back to polling and still restarts on a change", async () => {
    // The watched directory must exist before pidone starts (preflight refuses a missing one).
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-test-"));
    dirs.push(dir);
    mkdirSync(path.join(dir, "src"));
    const p = withoutInotify("max_inotify_watches", ["--no-trigger-file", "--watch", "src", "--debounce", "50ms", "--", S], dir);
    await p.waitForStdout(/app READY/);
    const degraded = await p.waitForEvent("source-degraded", (e) => e.source === "watch");
    expect(degraded).toMatchObject({ fallback: "polling", level: 40 });
    const ready = await p.waitForEvent("ready");
    expect(ready.sources).toContain("watch");
    writeFileSync(path.join(dir, "src", "app.py"), "x = 1\n");
    const ev = await p.waitForEvent("restart", () => true, 10_000);
    expect(ev.source).toBe("watch");
    expect(p.exit).toBeNull();
    expect(zombies(p.pid1)).toEqual([]);
  });
});
