// pidone as the ENTRYPOINT of an image under a real engine (podman with runc), in two images built
// from local root file systems, no registry: one with a busybox shell, one with nothing but node,
// its libraries, pidone and the app (no shell, no tar, no coreutils). Everything a user does with
// a container: restart by `podman exec ... pidone restart`, `podman kill --signal USR1`, the trigger
// file; `pidone status`; `podman stop`; the app's exit code; `podman run -it`. The image's
// ENTRYPOINT is ["pidone", "--"] as in Dockerfile.example, so pidone's options go in PIDONE_* (-e).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { BUNDLE, FIXTURES, type LogEvent } from "../helpers/pidone.js";
import { buildImage, podman, podmanAvailable, podmanEnv, removeAllContainers, removeImages, runContainer, uniqueName } from "../helpers/podman.js";
import { LAUNCHER, NODE, buildRootfs, walk } from "../helpers/rootfs.js";

const engine = podmanAvailable();
const APP = "/app/app.js";

/** Whether this pidone gives the app the terminal under `-it` (tcsetpgrp when isatty(0)), a
 *  change not merged yet: until the bundle binds tcsetpgrp, the -it test is skipped, saying why. */
const TTY_SUPPORT = readFileSync(path.join(path.dirname(BUNDLE), "pidone-main.cjs"), "utf8").includes("tcsetpgrp");

const variants = [
  { variant: "busybox shell", shell: true },
  { variant: "no shell, only node and pidone", shell: false },
] as const;

describe.skipIf(!engine.ok)(`podman run, pidone as ENTRYPOINT${engine.ok ? "" : ` (skipped: ${engine.reason})`}`, () => {
  const images: Record<string, string> = {};
  const rootfses: string[] = [];

  beforeAll(async () => {
    for (const { variant, shell } of variants) {
      const rootfs = buildRootfs({
        files: { [APP]: path.join(FIXTURES, "engine-app.js") },
        busybox: shell ? ["sh", "touch", "cat", "ls"] : undefined,
        dirs: ["app"],
      });
      rootfses.push(rootfs);
      if (!shell) {
        const names = walk(rootfs).map((f) => path.basename(f));
        for (const tool of ["sh", "busybox", "tar", "ls", "cat", "kill", "touch"]) expect(names, `shell-less rootfs has ${tool}`).not.toContain(tool);
      }
      images[variant] = await buildImage(rootfs, `localhost/${uniqueName("pidone-engine-run")}:latest`, {
        entrypoint: [LAUNCHER, "--"], cmd: [NODE, APP], workdir: "/app", env: { PIDONE_LOG_FORMAT: "json" },
      });
    }
  }, 120_000);

  afterEach(removeAllContainers);

  afterAll(async () => {
    await removeAllContainers();
    await removeImages(...Object.values(images));
    for (const r of rootfses) rmSync(r, { recursive: true, force: true });
  });

  describe.each(variants)("image with $variant", ({ variant, shell }) => {
    const image = () => images[variant] as string;

    it("restarts by `pidone restart`, `podman kill --signal USR1` and the trigger file; status; `podman stop` exits 0 through pidone's graceful stop", async () => {
      const c = await runContainer(image(), { runArgs: ["--network", "none"] });
      const ready = await c.waitForEvent("ready");
      expect(ready.pid, c.tail()).toBe(1);
      const spawned = await c.waitForEvent("spawned");
      await c.waitForOutput(new RegExp(`APP READY ${spawned.pid}\\n`));
      if (!shell) {
        const sh = await c.exec(["/bin/sh", "-c", "true"]);
        expect(sh.code, "the image has no shell").not.toBe(0);
      }

      let oldPid = spawned.pid as number;
      const expectRestart = async (n: number, source: string): Promise<LogEvent> => {
        const ev = await c.waitForEvent("restart", undefined, 15_000, n);
        expect(ev.source, c.tail()).toBe(source);
        expect(ev.oldPid, c.tail()).toBe(oldPid);
        await c.waitForOutput(new RegExp(`APP READY ${ev.newPid}\\n`));
        oldPid = ev.newPid as number;
        return ev;
      };

      // `pidone restart` through the default control socket, client and server agreeing on it.
      const res = await c.exec(["pidone", "restart"]);
      expect(res.code, `${res.stderr}\n${c.tail()}`).toBe(0);
      const byControl = await expectRestart(1, "control");
      expect(res.stdout.trim(), "pidone restart prints the new pid").toBe(String(byControl.newPid));

      await podman(["kill", "--signal", "USR1", c.name]).then((r) => expect(r.code, r.stderr).toBe(0));
      await expectRestart(2, "signal");

      // The trigger file, created through `podman exec`: by node itself where there is no shell.
      const touch = shell
        ? await c.exec(["touch", "/app/.restart_trigger"])
        : await c.exec([NODE, "-e", "require('fs').writeFileSync('/app/.restart_trigger', '')"]);
      expect(touch.code, touch.stderr).toBe(0);
      await expectRestart(3, "trigger-file");

      const status = await c.exec(["pidone", "status", "--json"]);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout), status.stdout).toMatchObject({ state: "running", pid: oldPid, supervisorPid: 1, restarts: 3 });
      const human = await c.exec(["pidone", "status"]);
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toContain(String(oldPid));

      // podman stop sends SIGTERM to PID 1 and SIGKILLs after its own 10 s: the exit must be
      // pidone's, from the app's own clean exit, well before that.
      const stop = await podman(["stop", "-t", "10", c.name]);
      expect(stop.code, stop.stderr).toBe(0);
      expect(await c.wait(), c.tail()).toBe(0);
      const stopping = await c.waitForEvent("stopping");
      expect(stopping.signal, c.tail()).toBe("SIGTERM");
      await c.waitForOutput(new RegExp(`APP STOPPING ${oldPid}\\n`));
      const exit = await c.waitForEvent("exit");
      expect(exit.code, c.tail()).toBe(0);
      expect(c.all("stop-timeout"), c.tail()).toEqual([]);
    });

    it("an app that ignores SIGTERM is SIGKILLed at pidone's --stop-timeout (2s, below podman's 10 s): exit 137", async () => {
      const c = await runContainer(image(), { runArgs: ["--network", "none", "-e", "PIDONE_STOP_TIMEOUT=2s"], command: [NODE, APP, "ignore-term"] });
      const spawned = await c.waitForEvent("spawned");
      await c.waitForOutput(new RegExp(`APP READY ${spawned.pid}\\n`));
      const stop = await podman(["stop", "-t", "10", c.name], { timeoutMs: 20_000 });
      expect(stop.code, stop.stderr).toBe(0);
      expect(await c.wait(), c.tail()).toBe(137);
      await c.waitForOutput(/APP IGNORED SIGTERM/);
      // pidone's own SIGKILL at its deadline (the log says so), not podman's at 10 s, which
      // would have left no exit event.
      const timeout = await c.waitForEvent("stop-timeout");
      expect(timeout.pid, c.tail()).toBe(spawned.pid);
      expect((await c.waitForEvent("exit")).code, c.tail()).toBe(137);
    });

    it("the app's exit code becomes the container's", async () => {
      const c = await runContainer(image(), { runArgs: ["--network", "none", "-e", "PIDONE_RESTART=never"], command: [NODE, APP, "exit", "3"] });
      expect(await c.wait(), c.tail()).toBe(3);
      expect((await c.waitForEvent("exit")).code, c.tail()).toBe(3);
    });

    // `script` gives `podman run -it` a pty of its own; the app reports whether it got the terminal.
    it.skipIf(!TTY_SUPPORT)(`\`podman run -it\`: the app gets the terminal (its group is the foreground group)${TTY_SUPPORT ? "" : " (skipped: this pidone does not make the app the terminal's foreground group yet; its tpgid is -1)"}`, async () => {
      const cmd = ["podman", "run", "--rm", "-it", "--network", "none", image(), NODE, APP, "tty"].join(" ");
      const name = uniqueName("pidone-tty");
      const res = await ttyRun(`${cmd.replace("run --rm", `run --rm --name ${name}`)}`, name);
      expect(res, res).toMatch(/APP TTY isatty=true pgrp=\d+ tpgid=\d+ foreground=true/);
    });
  });
});


/** Run `cmd` under `script` (a pty), wait for the app's TTY line, then stop container `name`. */
async function ttyRun(cmd: string, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn("script", ["-qfec", cmd, "/dev/null"], { env: podmanEnv(), stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    const finish = (v: string | Error) => {
      clearTimeout(timer);
      void podman(["rm", "-f", "-t", "0", name]).finally(() => (v instanceof Error ? reject(v) : resolve(v)));
    };
    const timer = setTimeout(() => finish(new Error(`timed out waiting for APP TTY\n${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (/APP READY/.test(out)) finish(out);
    };
    c.stdout.on("data", onData);
    c.stderr.on("data", onData);
  });
}
