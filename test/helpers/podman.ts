// A real container engine for tests: podman (Debian's, with runc), images imported from local
// root file systems (no registry), containers whose output is followed with `podman logs -f` so
// tests wait for events with deadlines, and a probe that says once, clearly, why the engine cannot
// run on this machine. Every podman call gets the tests' own containers.conf (CONTAINERS_CONF).
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, eventLines, type LogEvent } from "./pidone.js";
import { Waitable, Watched, runToEnd, type Result } from "./process.js";

/** The tests' containers.conf: runc and ulimits this machine allows (see its comments). */
export const CONTAINERS_CONF = path.join(ROOT, "test/engine/containers.conf");

/** The environment of every podman call. */
export function podmanEnv(): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _o, ...env } = process.env;
  return { ...env, CONTAINERS_CONF };
}

/** A name unique to this test process: `${prefix}-${pid}-${n}`. */
let counter = 0;
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${++counter}`;
}

export type { Result } from "./process.js";

/** Run podman to completion (bounded); `input` is written to its stdin. */
export function podman(args: string[], opts: { timeoutMs?: number; input?: string | Buffer } = {}): Promise<Result> {
  return runToEnd("podman", args, { env: podmanEnv(), timeoutMs: opts.timeoutMs ?? 30_000, input: opts.input });
}

/** Run podman and fail with its output unless it exits 0; returns stdout, trimmed. */
export async function podmanOk(args: string[], opts: { timeoutMs?: number; input?: string | Buffer } = {}): Promise<string> {
  const res = await podman(args, opts);
  if (res.code !== 0) throw new Error(`podman ${args.join(" ")} exited ${res.code}\n${res.stdout}\n${res.stderr}`);
  return res.stdout.trim();
}

let availability: { ok: boolean; reason: string } | undefined;

/** Whether podman can start a container here, and if not, why (for describe.skipIf). It imports a
 *  busybox-only image and runs `true` in it: the probe fails where the engine would. */
export function podmanAvailable(): { ok: boolean; reason: string } {
  if (availability) return availability;
  const fail = (reason: string) => {
    availability = { ok: false, reason };
    console.warn(`engine tests skipped: ${reason}`);
    return availability;
  };
  if (process.getuid?.() !== 0) return fail("podman needs root here (the CI runs as root)");
  const run = (args: string[], input?: Buffer) => execFileSync("podman", args, { env: podmanEnv(), input, stdio: ["pipe", "pipe", "pipe"], timeout: 30_000, maxBuffer: 1 << 26 });
  try {
    run(["--version"]);
  } catch (err) {
    return fail(`podman not found or broken (apt-get install podman runc): ${(err as Error).message.split("\n")[0]}`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), "pidone-probe-"));
  const image = `localhost/${uniqueName("pidone-probe")}:latest`;
  try {
    let tar: Buffer;
    try {
      mkdirSync(path.join(dir, "bin"));
      copyFileSync("/bin/busybox", path.join(dir, "bin/busybox"));
      chmodSync(path.join(dir, "bin/busybox"), 0o755);
      tar = execFileSync("tar", ["-C", dir, "-c", "."], { maxBuffer: 1 << 26 });
    } catch (err) {
      if (existsSync("/bin/busybox")) return fail(`cannot build the probe image: ${(err as Error).message.split("\n")[0]}`);
      return fail("/bin/busybox missing, needed for the probe image (apt-get install busybox-static)");
    }
    run(["import", "-", image], tar);
    run(["run", "--rm", "--network", "none", image, "/bin/busybox", "true"]);
    availability = { ok: true, reason: "" };
    return availability;
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    return fail(`podman cannot start a container: ${(e.stderr?.toString() || e.message).trim().split("\n").slice(-1)[0]}`);
  } finally {
    try {
      run(["rmi", "-f", image]);
    } catch {
      // never imported
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ImageOptions {
  entrypoint?: string[];
  cmd?: string[];
  workdir?: string;
  env?: Record<string, string>;
}

/** Import root file system `rootfs` as image `name` (`tar -C ROOT -c . | podman import - NAME`),
 *  with the given ENTRYPOINT, CMD, WORKDIR and ENV (PATH by default). Returns the name. */
export async function buildImage(rootfs: string, name: string, opts: ImageOptions = {}): Promise<string> {
  const changes: string[] = [];
  if (opts.entrypoint) changes.push(`ENTRYPOINT ${JSON.stringify(opts.entrypoint)}`);
  if (opts.cmd) changes.push(`CMD ${JSON.stringify(opts.cmd)}`);
  if (opts.workdir) changes.push(`WORKDIR ${opts.workdir}`);
  // An imported image has no PATH; `podman run` falls back to a default, `kube play` does not.
  const env = { PATH: "/usr/local/bin:/usr/bin:/bin", ...opts.env };
  for (const [k, v] of Object.entries(env)) changes.push(`ENV ${k}=${v}`);
  const tar = execFileSync("tar", ["-C", rootfs, "-c", "."], { maxBuffer: 1 << 30 });
  await podmanOk(["import", ...changes.flatMap((c) => ["--change", c]), "-", name], { input: tar, timeoutMs: 60_000 });
  return name;
}

/** Remove images, ignoring those already gone. */
export async function removeImages(...names: string[]): Promise<void> {
  if (names.length > 0) await podman(["rmi", "-f", ...names]);
}

/** Start a container detached: `podman run -d --name NAME ...runArgs IMAGE ...command`. */
export async function runContainer(image: string, opts: { name?: string; runArgs?: string[]; command?: string[] } = {}): Promise<Container> {
  const name = opts.name ?? uniqueName("pidone-test");
  await podmanOk(["run", "-d", "--name", name, ...(opts.runArgs ?? []), image, ...(opts.command ?? [])]);
  return new Container(name);
}

const live = new Set<Container>();

/** A container under test: its output (stdout and stderr of `podman logs -f`) and pidone's events. */
export class Container extends Waitable {
  output = "";
  readonly events: LogEvent[] = [];
  protected readonly defaultTimeoutMs = 15_000;
  private follower: Watched;
  private followerDone: Promise<void>;
  private over = false;

  constructor(readonly name: string) {
    super();
    live.add(this);
    let done: () => void = () => {};
    this.followerDone = new Promise((resolve) => (done = resolve));
    this.follower = this.follow(done, 5);
  }

  /** Follow the log from its start. `podman logs -f` can end at once when the container has not
   *  started yet (kube play returns while the pod's containers are still coming up, under load):
   *  then follow again from the start while the container is not exited, at most `retries` times. */
  private follow(done: () => void, retries: number): Watched {
    this.output = "";
    this.events.length = 0;
    const follower = new Watched("podman", ["logs", "-f", this.name], { env: podmanEnv(), label: "podman logs" });
    const feed = eventLines<LogEvent>((ev) => this.events.push(ev));
    const onData = (d: Buffer) => {
      const s = d.toString("utf8");
      this.output += s;
      feed(s);
      this.wake();
    };
    follower.proc.stdout?.on("data", onData);
    follower.proc.stderr?.on("data", onData);
    const end = () => {
      this.over = true;
      this.wake();
      done();
    };
    void follower.exited
      .then(() => podman(["inspect", "--format", "{{.State.Status}}", this.name]))
      .then((r) => {
        const state = r.stdout.trim();
        if (retries > 0 && live.has(this) && r.code === 0 && state !== "exited" && state !== "stopped") this.follower = this.follow(done, retries - 1);
        else end();
      }, end);
    return follower;
  }

  protected ended(): string | null {
    return this.over ? `container ${this.name} ended (its log closed)` : null;
  }

  protected captured(): string {
    return this.tail();
  }

  /** Wait for the n-th (1-based) pidone log event `event` matching `match`. */
  waitForEvent(event: string, match: (e: LogEvent) => boolean = () => true, timeoutMs = 15_000, n = 1): Promise<LogEvent> {
    return this.until(() => this.events.filter((e) => e.event === event && match(e))[n - 1], `log event '${event}' #${n}`, timeoutMs);
  }

  /** Wait until the output matches `re` n times; returns the matches. */
  waitForOutput(re: RegExp, timeoutMs = 15_000, n = 1): Promise<RegExpMatchArray[]> {
    const g = new RegExp(re.source, re.flags.includes("g") ? re.flags : `${re.flags}g`);
    return this.until(() => {
      const m = [...this.output.matchAll(g)];
      return m.length >= n ? m : undefined;
    }, `output ${re} x${n}`, timeoutMs);
  }

  /** Events named `event` so far. */
  all(event: string): LogEvent[] {
    return this.events.filter((e) => e.event === event);
  }

  /** `podman exec NAME ...args`. */
  exec(args: string[], timeoutMs = 20_000): Promise<Result> {
    return podman(["exec", this.name, ...args], { timeoutMs });
  }

  /** Wait for the container to exit (`podman wait`, bounded) and for its log to end; its exit code. */
  async wait(timeoutMs = 20_000): Promise<number> {
    const code = Number(await podmanOk(["wait", this.name], { timeoutMs }));
    await Promise.race([this.followerDone, new Promise((r) => setTimeout(r, 5000))]);
    return code;
  }

  /** The last part of the output, for failure messages. */
  tail(): string {
    return `--- podman logs ${this.name} (last 6000) ---\n${this.output.slice(-6000)}`;
  }

  /** Remove the container (also if running) and stop following its log. */
  async remove(): Promise<void> {
    live.delete(this);
    await podman(["rm", "-f", "-t", "0", this.name]);
    await this.follower.kill();
  }
}

/** Remove every container a test left (for afterEach/afterAll, also after a failure). */
export async function removeAllContainers(): Promise<void> {
  await Promise.all([...live].map((c) => c.remove()));
}

/** Write a file in a new temp dir and return its path (manifests, confs). */
export function tempFile(name: string, text: string): string {
  const f = path.join(mkdtempSync(path.join(tmpdir(), "pidone-engine-")), name);
  writeFileSync(f, text);
  return f;
}
