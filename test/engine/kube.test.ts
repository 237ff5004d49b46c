// `podman kube play` of examples/k8s/deployment.yaml itself: its env (PIDONE_* with the health
// server), volumes (the /app emptyDir seeded by the init container, /tmp for the control socket),
// read-only root file system and probes, with only what a local engine needs changed: the image
// is a local one built here (busybox for the init container's `sh -c cp`, node, pidone and
// examples/apps/node_server.js), `imagePullPolicy: Never`, and a unique name. Then the inner loop
// the Deployment documents: `pidone restart` through exec, in the pod.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { ROOT, run } from "../helpers/pidone.js";
import { Container, buildImage, podman, podmanAvailable, podmanOk, removeImages, tempFile, uniqueName } from "../helpers/podman.js";
import { LAUNCHER, NODE, buildRootfs } from "../helpers/rootfs.js";

const engine = podmanAvailable();
const DEPLOYMENT = path.join(ROOT, "examples/k8s/deployment.yaml");

/** The Deployment of `file` (PyYAML), for the local engine: image, pull policy, name. */
async function deriveManifest(file: string, image: string, name: string): Promise<{ yaml: string; original: string }> {
  const script = `
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "Deployment"]
deploy = docs[0]
original = deploy["spec"]["template"]["spec"]["containers"][0]["image"]
deploy["metadata"]["name"] = sys.argv[3]
# Podman 4.3 (Debian 12) deadlocks on an init container of the default type "once": kube play holds
# the container's lock while it waits (20 s) for conmon to exit, and conmon waits for its exit
# command, \`podman container cleanup\`, which waits for that lock; kube play then fails to remove
# the init container it still sees running. Type "always" only skips that removal: the init
# container still runs to completion before the app container starts, as in Kubernetes.
# Set on the Deployment and on its pod template: podman versions differ in which one they read.
for meta in (deploy["metadata"], deploy["spec"]["template"].setdefault("metadata", {})):
    meta.setdefault("annotations", {})["io.podman.annotations.init.container.type"] = "always"
pod = deploy["spec"]["template"]["spec"]
for c in pod.get("initContainers", []) + pod["containers"]:
    assert c["image"] == original, c["image"]
    c["image"] = sys.argv[2]
    c["imagePullPolicy"] = "Never"
    # podman kube play publishes a containerPort on the host: two pods of the suite (this one and
    # the overlay's) would collide on 8000. The test reaches the app through exec, not the host.
    c.pop("ports", None)
print(json.dumps({"yaml": yaml.safe_dump(deploy, sort_keys=False), "original": original}))
`;
  const res = await run("/usr/bin/python3", ["-c", script, file, image, name]);
  if (res.code !== 0) throw new Error(`deriving the manifest failed\n${res.stderr}`);
  return JSON.parse(res.stdout) as { yaml: string; original: string };
}

describe.skipIf(!engine.ok)(`podman kube play examples/k8s/deployment.yaml${engine.ok ? "" : ` (skipped: ${engine.reason})`}`, () => {
  let image = "";
  let rootfs = "";
  let manifest = "";
  const name = uniqueName("pidone-kube");

  beforeAll(async () => {
    rootfs = buildRootfs({
      files: { "/app/node_server.js": path.join(ROOT, "examples/apps/node_server.js") },
      busybox: ["sh", "cp", "ls"],
      dirs: ["dev-app"],
    });
    image = await buildImage(rootfs, `localhost/${uniqueName("pidone-engine-kube")}:latest`, {
      entrypoint: [LAUNCHER, "--"], cmd: [NODE, "node_server.js"], workdir: "/app", env: { PORT: "8000" },
    });
    const derived = await deriveManifest(DEPLOYMENT, image, name);
    expect(derived.original).toMatch(/^ghcr\.io\/example\/flask-app:/);
    manifest = tempFile("deployment.yaml", derived.yaml);
  }, 120_000);

  afterAll(async () => {
    if (manifest) await podman(["kube", "down", manifest]);
    await podman(["pod", "rm", "-f", `${name}-pod-0`]);
    if (image) await removeImages(image);
    if (rootfs) rmSync(rootfs, { recursive: true, force: true });
    if (manifest) rmSync(path.dirname(manifest), { recursive: true, force: true });
  });

  it("runs the seeded app under pidone; `pidone restart` through exec restarts it in the same container", async () => {
    const play = await podman(["kube", "play", manifest], { timeoutMs: 60_000 });
    expect(play.code, `${play.stdout}\n${play.stderr}`).toBe(0);
    // With the "always" type (see the annotation), podman 4.3 may start the app container before
    // it has seen the init container exit; wait for that, as Kubernetes would have.
    expect(await podmanOk(["wait", `${name}-pod-0-seed-app`], { timeoutMs: 60_000 })).toBe("0");
    // podman names a Deployment's pod <name>-pod-0 and its containers <pod>-<container>.
    const c = new Container(`${name}-pod-0-app`);
    try {
      const ready = await c.waitForEvent("ready");
      expect(ready.pid, c.tail()).toBe(1);
      const spawned = await c.waitForEvent("spawned");
      await c.waitForOutput(new RegExp(`listening on 0\\.0\\.0\\.0:8000 \\(pid ${spawned.pid}\\)`));
      // The app runs from the emptyDir the init container seeded, which is writable although
      // the root file system is read-only.
      expect(readFileSync(DEPLOYMENT, "utf8")).toContain("readOnlyRootFilesystem: true");
      const ls = await c.exec(["ls", "/app"]);
      expect(ls.stdout, ls.stderr).toContain("node_server.js");
      const ro = await c.exec(["sh", "-c", "echo x > /rootfs-write-test"]);
      expect(ro.code, "the root file system is read-only").not.toBe(0);

      // The env of the manifest reached pidone: its health server answers /livez in the pod.
      const livez = await c.exec([NODE, "-e", "require('http').get('http://127.0.0.1:9090/livez', (r) => { console.log(r.statusCode); r.resume(); })"]);
      expect(livez.stdout.trim(), `${livez.stderr}\n${c.tail()}`).toBe("200");

      const res = await c.exec(["pidone", "restart"]);
      expect(res.code, `${res.stderr}\n${c.tail()}`).toBe(0);
      const ev = await c.waitForEvent("restart");
      expect(ev.source, c.tail()).toBe("control");
      expect(ev.oldPid, c.tail()).toBe(spawned.pid);
      expect(res.stdout.trim()).toBe(String(ev.newPid));
      await c.waitForOutput(new RegExp(`listening on 0\\.0\\.0\\.0:8000 \\(pid ${ev.newPid}\\)`));
      const inspect = await podmanOk(["inspect", "--format", "{{.RestartCount}} {{.State.Status}}", c.name]);
      expect(inspect, "the container itself never restarted").toBe("0 running");
    } finally {
      await c.remove();
    }
  });
});
