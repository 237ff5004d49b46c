// Installing pidone into an image that has no Node, by a manifest change only: the dev overlay
// (examples/k8s/overlay-dev) rendered here by test/helpers/kustomize-lite.py (podman cannot run
// kustomize), then played by `podman kube play`. The app image is busybox-static alone: no node,
// no glibc, no loader. The init image carries only the self-contained pidone (scripts/standalone.mjs)
// and copies it with its own node. The rendered manifest is used as it is, except for what a local
// engine needs: local images, `imagePullPolicy: Never`, a unique name, and the base's app command
// (python's http.server) swapped for busybox httpd behind the same pidone prefix.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, run } from "../helpers/pidone.js";
import { Container, buildImage, podman, podmanAvailable, podmanOk, removeImages, tempFile, uniqueName } from "../helpers/podman.js";
import { walk } from "../helpers/rootfs.js";

const engine = podmanAvailable();
const OVERLAY = path.join(ROOT, "examples/k8s/overlay-dev");
const LOADER = "/pidone/lib/ld.so";
/** The exec command the overlay documents, for images without a shell. */
const PIDONE = [LOADER, "--library-path", "/pidone/lib", "/pidone/node", "/pidone/pidone.cjs"];
const HTTPD = ["busybox", "httpd", "-f", "-p", "8000", "-h", "/app"];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;

/** The overlay rendered (kustomize-lite) and the base it patches, parsed. */
async function render(): Promise<{ overlay: Doc; base: Doc }> {
  const script = `
import json, subprocess, sys, yaml
out = subprocess.run([sys.executable, sys.argv[1], sys.argv[2]], check=True, capture_output=True, text=True).stdout
overlay = [d for d in yaml.safe_load_all(out) if d]
base = [d for d in yaml.safe_load_all(open(sys.argv[3])) if d]
print(json.dumps({"overlay": overlay, "base": base}))
`;
  const res = await run("/usr/bin/python3", ["-c", script, path.join(ROOT, "test/helpers/kustomize-lite.py"), OVERLAY, path.join(ROOT, "examples/k8s/plain/deployment.yaml")]);
  if (res.code !== 0) throw new Error(`rendering ${OVERLAY} failed\n${res.stderr}`);
  const { overlay, base } = JSON.parse(res.stdout) as { overlay: Doc[]; base: Doc[] };
  expect(overlay.length).toBe(1);
  return { overlay: overlay[0], base: base[0] };
}

describe.skipIf(!engine.ok)(`pidone installed by examples/k8s/overlay-dev into an image without Node${engine.ok ? "" : ` (skipped: ${engine.reason})`}`, () => {
  const tmp: string[] = [];
  const images: string[] = [];
  let manifest = "";
  const name = uniqueName("pidone-install");

  beforeAll(async () => {
    // The init image: the self-contained directory at /pidone, and nothing else.
    const initRoot = mkdtempSync(path.join(tmpdir(), "pidone-init-"));
    tmp.push(initRoot);
    const built = await run(process.execPath, [path.join(ROOT, "scripts/standalone.mjs"), path.join(initRoot, "pidone")], { timeoutMs: 60_000 });
    expect(built.code, built.stderr).toBe(0);
    for (const d of ["install", "tmp", "proc"]) mkdirp(path.join(initRoot, d));
    images.push(await buildImage(initRoot, `localhost/${uniqueName("pidone-engine-init")}:latest`));

    // The app image: busybox-static only.
    const appRoot = mkdtempSync(path.join(tmpdir(), "pidone-app-"));
    tmp.push(appRoot);
    mkdirp(path.join(appRoot, "bin"));
    copyFileSync("/bin/busybox", path.join(appRoot, "bin/busybox"));
    chmodSync(path.join(appRoot, "bin/busybox"), 0o755);
    for (const applet of ["sh", "wget", "tr", "test"]) symlinkSync("busybox", path.join(appRoot, "bin", applet));
    for (const d of ["app", "tmp", "proc", "pidone"]) mkdirp(path.join(appRoot, d));
    writeFileSync(path.join(appRoot, "app/index.html"), "hello from busybox httpd\n");
    expect(walk(appRoot).map((f) => path.basename(f)), "the app image has no node and no glibc").not.toEqual(expect.arrayContaining(["node"]));
    images.push(await buildImage(appRoot, `localhost/${uniqueName("pidone-engine-app")}:latest`));

    const { overlay, base } = await render();
    const pod = overlay.spec.template.spec;
    const app = pod.containers.find((c: Doc) => c.name === "app");
    const original = base.spec.template.spec.containers.find((c: Doc) => c.name === "app").command;
    // The overlay's whole effect on the command: pidone's prefix, then the app's own command.
    expect(app.command).toEqual([...PIDONE, "--", ...original]);
    expect(app.image, "the overlay keeps the app's image").toBe(base.spec.template.spec.containers[0].image);
    const init = pod.initContainers.find((c: Doc) => c.name === "install-pidone");
    expect(init.volumeMounts[0].name).toBe(app.volumeMounts.find((m: Doc) => m.mountPath === "/pidone").name);

    overlay.metadata.name = name;
    // See test/engine/kube.test.ts: podman 4.3 deadlocks on init containers of the type "once".
    for (const meta of [overlay.metadata, overlay.spec.template.metadata]) {
      meta.annotations = { ...meta.annotations, "io.podman.annotations.init.container.type": "always" };
    }
    init.image = images[0];
    app.image = images[1];
    for (const c of [init, app]) c.imagePullPolicy = "Never";
    // Not published on the host (see kube.test.ts): the test reaches the app through exec.
    for (const c of [init, app]) delete c.ports;
    app.command = [...PIDONE, "--", ...HTTPD];
    // JSON is YAML: podman reads it as a manifest.
    manifest = tempFile("overlay-dev.yaml", JSON.stringify(overlay, null, 2));
    tmp.push(path.dirname(manifest));
  }, 120_000);

  afterAll(async () => {
    if (manifest) await podman(["kube", "down", manifest]);
    await podman(["pod", "rm", "-f", `${name}-pod-0`]);
    await removeImages(...images);
    for (const d of tmp) rmSync(d, { recursive: true, force: true });
  });

  it("the init container installs pidone; it runs the app as PID 1, restarts it through exec, and the app keeps its own environment", async () => {
    const play = await podman(["kube", "play", manifest], { timeoutMs: 60_000 });
    expect(play.code, `${play.stdout}\n${play.stderr}`).toBe(0);
    // With the "always" type (see the annotation), podman 4.3 may start the app container before
    // it has seen the init container exit; wait for that, as Kubernetes would have.
    expect(await podmanOk(["wait", `${name}-pod-0-install-pidone`], { timeoutMs: 60_000 })).toBe("0");
    const c = new Container(`${name}-pod-0-app`);
    try {
      const ready = await c.waitForEvent("ready");
      expect(ready.pid, c.tail()).toBe(1);
      const spawned = await c.waitForEvent("spawned");
      expect(c.all("reaper-unavailable"), "koffi.node loads from /pidone/koffi").toEqual([]);
      const bare = await c.exec(["sh", "-c", "test ! -e /usr/local/bin/node && test ! -e /usr/bin/node && test ! -e /lib64/ld-linux-x86-64.so.2 && echo bare"]);
      expect(bare.stdout.trim(), "the app image has no node and no loader of its own").toBe("bare");

      // The app serves, and did not inherit pidone's library path.
      const get = await c.exec(["wget", "-qO-", "http://127.0.0.1:8000/"]);
      expect(get.stdout, `${get.stderr}\n${c.tail()}`).toBe("hello from busybox httpd\n");
      const environ = await c.exec(["sh", "-c", `tr '\\0' '\\n' < /proc/${spawned.pid}/environ`]);
      expect(environ.stdout, environ.stderr).toContain("PIDONE_MAX_RESTARTS=1000");
      expect(environ.stdout).not.toMatch(/LD_LIBRARY_PATH/);

      // Restart with the documented loader form (works without a shell), status with bin/pidone.
      const res = await c.exec([...PIDONE, "restart"]);
      expect(res.code, `${res.stderr}\n${c.tail()}`).toBe(0);
      const ev = await c.waitForEvent("restart");
      expect(ev.source, c.tail()).toBe("control");
      expect(ev.oldPid, c.tail()).toBe(spawned.pid);
      expect(res.stdout.trim()).toBe(String(ev.newPid));
      const status = await c.exec(["/pidone/bin/pidone", "status", "--json"]);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ state: "running", pid: ev.newPid, restarts: 1, supervisorPid: 1 });
      const again = await c.exec(["wget", "-qO-", "http://127.0.0.1:8000/"]);
      expect(again.stdout, `${again.stderr}\n${c.tail()}`).toBe("hello from busybox httpd\n");
    } finally {
      await c.remove();
    }
  });
});

function mkdirp(dir: string): void {
  mkdirSync(dir, { recursive: true });
}
