// The files users copy (examples/, Dockerfile.example) cannot be run here (no cluster, no Docker
// daemon), so this checks what can be checked: every YAML file parses (PyYAML from Debian's
// python3-yaml, through a subprocess: no npm YAML dependency), the Deployment keeps pidone's
// rules (probes, a grace period above the stop timeout, a writable /app for the trigger file), and
// every path the examples name exists in the repository and agrees with the others.
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { ROOT, run } from "../helpers/pidone.js";

const EXAMPLES = path.join(ROOT, "examples");
const K8S = path.join(EXAMPLES, "k8s");
const PY = "/usr/bin/python3";
const IMAGE = "ghcr.io/example/flask-app";
const TRIGGER = "/app/.restart_trigger";

/** Parse YAML files with PyYAML: file -> its documents, or the parse error. */
async function parseYaml(files: string[]): Promise<Record<string, { docs?: unknown[]; error?: string }>> {
  const script = [
    "import json, sys, yaml",
    "out = {}",
    "for f in sys.argv[1:]:",
    "    try:",
    "        with open(f) as fh: out[f] = {'docs': list(yaml.safe_load_all(fh))}",
    "    except Exception as e: out[f] = {'error': type(e).__name__ + ': ' + str(e)}",
    "print(json.dumps(out, default=str))",
  ].join("\n");
  const res = await run(PY, ["-c", script, ...files]);
  if (res.code !== 0) throw new Error(`${PY} with PyYAML failed (apt-get install python3-yaml?)\n${res.stderr}`);
  return JSON.parse(res.stdout) as Record<string, { docs?: unknown[]; error?: string }>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const f = path.join(dir, name);
    if (statSync(f).isDirectory()) out.push(...yamlFiles(f));
    else if (/\.ya?ml$/.test(name)) out.push(f);
  }
  return out;
}

function seconds(duration: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(duration.trim());
  if (!m) throw new Error(`not a duration: ${duration}`);
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60 }[m[2] ?? "s"] as number);
}

const repoPath = (p: string) => path.join(ROOT, p.replace(/^\.\//, ""));

describe("examples: YAML files parse and agree with each other", () => {
  it("every YAML file under examples/ parses", async () => {
    const files = yamlFiles(EXAMPLES);
    expect(files.map((f) => path.relative(ROOT, f)).sort()).toEqual(expect.arrayContaining([
      "examples/k8s/deployment.yaml", "examples/k8s/devspace.yaml", "examples/k8s/skaffold.yaml",
    ]));
    const parsed = await parseYaml(files);
    for (const f of files) {
      expect(parsed[f]?.error, f).toBeUndefined();
      expect((parsed[f]?.docs ?? []).filter((d) => d !== null).length, `${f} has no document`).toBeGreaterThan(0);
    }
  });

  it("the Deployment: probes, grace period above pidone's stop timeout, writable /app and /tmp", async () => {
    const file = path.join(K8S, "deployment.yaml");
    const docs = ((await parseYaml([file]))[file]?.docs ?? []) as Doc[];
    const deploy = docs.find((d) => d?.kind === "Deployment");
    expect(deploy, "no Deployment in deployment.yaml").toBeDefined();
    const pod = deploy.spec.template.spec;
    const app = pod.containers.find((c: Doc) => c.name === "app");
    expect(app.image.split(":")[0]).toBe(IMAGE);
    expect(deploy.spec.selector.matchLabels).toEqual(deploy.spec.template.metadata.labels);

    // Readiness asks the app; liveness asks pidone's --health server, which stays live across
    // restarts and backoff.
    expect(app.readinessProbe?.httpGet).toMatchObject({ path: "/healthz", port: "http" });
    expect(readFileSync(path.join(EXAMPLES, "apps/flask_app.py"), "utf8")).toContain('"/healthz"');
    expect(app.livenessProbe?.httpGet).toMatchObject({ path: "/livez", port: "pidone" });

    const env = Object.fromEntries((app.env ?? []).map((e: Doc) => [e.name, e.value]));
    const pidonePort = (app.ports ?? []).find((p: Doc) => p.name === "pidone")?.containerPort;
    expect(env.PIDONE_HEALTH, "PIDONE_HEALTH must serve the port the liveness probe uses").toBe(`0.0.0.0:${pidonePort}`);
    const stop = seconds(env.PIDONE_STOP_TIMEOUT ?? "10s");
    // The kubelet's SIGKILL must not come before pidone has had its whole stop timeout, plus margin.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(stop + 5);

    // The trigger file lives in pidone's working directory (the image's WORKDIR /app) and the
    // control socket in /tmp: both must be writable even with a read-only root file system.
    const mounts = Object.fromEntries(app.volumeMounts.map((m: Doc) => [m.mountPath, m.name]));
    const volumes = Object.fromEntries(pod.volumes.map((v: Doc) => [v.name, v]));
    for (const dir of ["/app", "/tmp"]) {
      expect(mounts[dir], `no volume at ${dir}`).toBeDefined();
      expect(volumes[mounts[dir]], `volume for ${dir}`).toBeDefined();
    }
    const seed = (pod.initContainers ?? []).find((c: Doc) => c.volumeMounts?.some((m: Doc) => m.name === mounts["/app"]));
    expect(seed?.image, "the dev volume is seeded from the same image").toBe(app.image);
  });

  it("Skaffold: manual sync into /app, then `pidone restart` in the container (no `kill 1`)", async () => {
    const file = path.join(K8S, "skaffold.yaml");
    const [cfg] = ((await parseYaml([file]))[file]?.docs ?? []) as Doc[];
    const artifact = cfg.build.artifacts[0];
    expect(artifact.image).toBe(IMAGE);
    expect(existsSync(repoPath(artifact.docker.dockerfile)), artifact.docker.dockerfile).toBe(true);
    expect(readFileSync(repoPath(artifact.docker.dockerfile), "utf8")).toContain(` AS ${artifact.docker.target}\n`);
    expect(artifact.sync.manual[0].dest).toBe("/app");
    expect(existsSync(repoPath(artifact.sync.manual[0].strip))).toBe(true);
    expect(artifact.sync.hooks.after[0].container.command).toEqual(["pidone", "restart"]);
    for (const m of cfg.manifests.rawYaml) expect(existsSync(repoPath(m)), m).toBe(true);
    expect(readFileSync(file, "utf8")).not.toMatch(/command:.*\bkill\b/);
  });

  it("DevSpace: sync into /app, then touch the trigger file", async () => {
    const file = path.join(K8S, "devspace.yaml");
    const [cfg] = ((await parseYaml([file]))[file]?.docs ?? []) as Doc[];
    expect(cfg.images.app.image).toBe(IMAGE);
    expect(existsSync(repoPath(cfg.images.app.dockerfile))).toBe(true);
    for (const m of cfg.deployments.app.kubectl.manifests) expect(existsSync(repoPath(m)), m).toBe(true);
    const sync = cfg.dev.app.sync[0];
    const [local, remote] = sync.path.split(":");
    expect(existsSync(repoPath(local))).toBe(true);
    expect(remote).toBe("/app");
    expect(sync.onUpload.exec[0]).toMatchObject({ command: "touch", args: [TRIGGER] });
  });

  it("Tilt: the Tiltfile syncs into /app, touches the trigger file, and names files that exist", () => {
    const text = readFileSync(path.join(K8S, "Tiltfile"), "utf8");
    expect(text).toContain(`docker_build(\n    "${IMAGE}"`);
    expect(text).toContain(`run("touch ${TRIGGER}")`);
    const named = [
      ...[...text.matchAll(/(?:k8s_yaml|dockerfile=)\(?"([^"]+)"/g)].map((m) => m[1] as string),
      ...[...text.matchAll(/sync\("([^"]+)", "\/app"\)/g)].map((m) => m[1] as string),
    ];
    expect(named.length).toBeGreaterThanOrEqual(3);
    for (const f of named) expect(existsSync(repoPath(f)), f).toBe(true);
  });

  it("overlay-dev: patches ../plain, names files that exist, and its init image is Dockerfile.example's pidone-standalone", async () => {
    const dir = path.join(K8S, "overlay-dev");
    const file = path.join(dir, "kustomization.yaml");
    const [k] = ((await parseYaml([file]))[file]?.docs ?? []) as Doc[];
    expect(k.resources).toEqual(["../plain"]);
    expect(existsSync(path.join(K8S, "plain/kustomization.yaml"))).toBe(true);
    for (const pt of k.patches) expect(existsSync(path.join(dir, pt.path)), pt.path).toBe(true);
    const patchFile = path.join(dir, "pidone-patch.yaml");
    const [patch] = ((await parseYaml([patchFile]))[patchFile]?.docs ?? []) as Doc[];
    const init = patch.spec.template.spec.initContainers[0];
    expect(init.image).toMatch(/\/pidone-standalone:/);
    expect(readFileSync(path.join(ROOT, "Dockerfile.example"), "utf8")).toMatch(/^FROM scratch AS pidone-standalone$/m);
    // The command the overlay documents for `kubectl exec` is the one the JSON patch inserts.
    const opsFile = path.join(dir, "pidone-command.yaml");
    const [ops] = ((await parseYaml([opsFile]))[opsFile]?.docs ?? []) as Doc[];
    const prefix = ops.map((o: Doc) => o.value);
    expect(prefix.at(-1)).toBe("--");
    expect(readFileSync(file, "utf8")).toContain(`kubectl exec deploy/web -- ${prefix.slice(0, -1).join(" ")} restart`);
  });

  it("Dockerfile.example: copies files that exist, pidone is the entrypoint, launched with --disable-sigusr1", () => {
    const text = readFileSync(path.join(ROOT, "Dockerfile.example"), "utf8");
    for (const m of text.matchAll(/^COPY (?!--from)(.+)$/gm)) {
      const parts = (m[1] as string).trim().split(/\s+/);
      for (const src of parts.slice(0, -1)) expect(existsSync(repoPath(src)), `COPY source ${src}`).toBe(true);
    }
    expect(text).toMatch(/^FROM python:3\.12-slim AS flask-app$/m);
    expect(text).toMatch(/^FROM node:22[^\s]* AS node-app$/m);
    expect([...text.matchAll(/^ENTRYPOINT \["pidone", "--"\]$/gm)].length).toBe(2);
    expect(text).toContain("#!/usr/local/bin/node --disable-sigusr1\\nrequire(\"/opt/pidone/pidone.cjs\");");
    expect(text).toMatch(/^WORKDIR \/app$/m);
  });
});
