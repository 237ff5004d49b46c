// pidone sync into a real container: `--via "podman exec -i CTR"`, the receiving side being the
// pidone already in the image (its launcher), in an image with nothing but node, its libraries and
// pidone: no tar, rsync or shell. The batch lands in the container, the app restarts once, and
// the report comes back to the laptop side; a broken save's traceback comes back too, with its
// path on the laptop, while the container stays up.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BUNDLE, FIXTURES, run } from "../helpers/pidone.js";
import { CONTAINERS_CONF, buildImage, podman, podmanAvailable, removeAllContainers, removeImages, runContainer, uniqueName } from "../helpers/podman.js";
import { LAUNCHER, NODE, buildRootfs, walk } from "../helpers/rootfs.js";
import { cleanEnv, cleanupSyncs, startSync } from "../helpers/sync.js";

const engine = podmanAvailable();
const APP = "/app/app.js";

describe.skipIf(!engine.ok)(`pidone sync --via "podman exec -i CTR"${engine.ok ? "" : ` (skipped: ${engine.reason})`}`, () => {
  let image = "";
  const dirs: string[] = [];

  beforeAll(async () => {
    const rootfs = buildRootfs({ files: { [APP]: path.join(FIXTURES, "engine-app.js") }, dirs: ["app", "app/code"] });
    dirs.push(rootfs);
    const names = walk(rootfs).map((f) => path.basename(f));
    for (const tool of ["sh", "tar", "rsync"]) expect(names, `the image has ${tool}`).not.toContain(tool);
    image = await buildImage(rootfs, `localhost/${uniqueName("pidone-engine-sync")}:latest`, {
      entrypoint: [LAUNCHER, "--"], cmd: [NODE, APP], workdir: "/app", env: { PIDONE_LOG_FORMAT: "json" },
    });
  }, 120_000);

  afterEach(async () => {
    await cleanupSyncs();
    await removeAllContainers();
  });
  afterAll(async () => {
    await removeAllContainers();
    if (image) await removeImages(image);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("--once: the files land in the container, the app restarts once, the report names both pids", async () => {
    const c = await runContainer(image);
    const first = await c.waitForEvent("spawned");
    const local = mkdtempSync(path.join(tmpdir(), "pidone-sync-engine-"));
    dirs.push(local);
    writeFileSync(path.join(local, "main.py"), "print('v1')\n");
    mkdirSync(path.join(local, "pkg"));
    writeFileSync(path.join(local, "pkg/run.sh"), "#!/bin/sh\n");
    chmodSync(path.join(local, "pkg/run.sh"), 0o755);
    writeFileSync(path.join(local, "ignored.pyc"), "");
    const r = await run(process.execPath, [BUNDLE, "sync", "--once", local, "/app/code", "--via", `podman exec -i ${c.name}`], {
      env: { ...(cleanEnv() as Record<string, string>), CONTAINERS_CONF }, timeoutMs: 60_000,
    });
    expect(r.code, `${r.stdout}\n${r.stderr}\n${c.output}`).toBe(0);
    const restart = await c.waitForEvent("restart");
    expect(restart).toMatchObject({ source: "control", oldPid: first.pid });
    expect(r.stdout).toMatch(new RegExp(`synced 2 files .*restarted pid ${first.pid} -> ${restart.newPid as number}`));
    // What the container now holds, read with the only tool it has: node.
    const read = await podman(["exec", c.name, NODE, "-e",
      "const fs=require('fs');console.log(JSON.stringify({main:fs.readFileSync('/app/code/main.py','utf8'),mode:(fs.statSync('/app/code/pkg/run.sh').mode&0o777).toString(8),pyc:fs.existsSync('/app/code/ignored.pyc')}))"]);
    expect(JSON.parse(read.stdout)).toEqual({ main: "print('v1')\n", mode: "755", pyc: false });
    expect(c.events.filter((e) => e.event === "restart")).toHaveLength(1);
  }, 120_000);

  it("a broken save: its traceback shows in sync's output with the LOCAL path, and the container stays up", async () => {
    const c = await runContainer(image);
    await c.waitForEvent("spawned");
    const local = mkdtempSync(path.join(tmpdir(), "pidone-sync-engine-"));
    dirs.push(local);
    writeFileSync(path.join(local, "app.js"), "\"use strict\";\nthrow new Error(\"BROKEN-IN-CONTAINER\");\n");
    // Watching (not --once): the crash is in the batch's report when Node fails within the
    // up-window, else a notice and the streamed output follow it; both reach sync's output.
    const saved = process.env.CONTAINERS_CONF;
    process.env.CONTAINERS_CONF = CONTAINERS_CONF;
    const s = startSync([local, "/app", "--via", `podman exec -i ${c.name}`]);
    if (saved === undefined) delete process.env.CONTAINERS_CONF;
    else process.env.CONTAINERS_CONF = saved;
    const b = await s.waitFor("synced", 1, 60_000);
    const text = () => [...s.all("restart"), ...s.all("output")].filter((e) => e.id === b.id).map((e) => String(e.tail ?? e.text ?? "")).join("");
    await s.until(() => text().includes(`${local}/app.js:2`) && /Error: BROKEN-IN-CONTAINER/.test(text()), `the traceback with the local path (so far: ${JSON.stringify(text())})`, 30_000);
    expect(text()).not.toContain("/app/app.js");
    await c.waitForEvent("app-crashed-after-change");
    const state = await podman(["inspect", "--format", "{{.State.Status}}", c.name]);
    expect(state.stdout.trim(), c.output).toBe("running");
    expect(c.all("gave-up")).toEqual([]);
  }, 120_000);
});
