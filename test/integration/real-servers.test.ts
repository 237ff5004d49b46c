// Real servers under pidone as PID 1: Flask's debug reloader (parent + serving child), gunicorn
// with two workers, uvicorn and a plain Node server. Each is restarted ten times through the three
// restart sources, and after every restart the port must answer from the new generation, with
// nothing of an older generation left and no zombie. The apps live in examples/apps/ and answer
// GET / with {pid, ppid, started}. Python comes from Debian's packages (python3-flask, gunicorn,
// python3-uvicorn), called as /usr/bin/python3 because another python3 may come first on PATH.
import { afterEach, describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { BUNDLE, ROOT, cleanupAll, run, startPidone, type LogEvent, type Pidone } from "../helpers/pidone.js";
import { zombies } from "../helpers/proc.js";
import { answerFrom as answerFromPort, formatProcs, freePort, httpGet } from "../helpers/http.js";

afterEach(cleanupAll);

const APPS = path.join(ROOT, "examples/apps");
const PY = "/usr/bin/python3";
const STOP_TIMEOUT_MS = 10_000;
/** Generous bounds: Flask's reloader starts a second interpreter before the port answers. */
const UP_MS = 20_000;
const SOURCES = ["signal", "trigger-file", "control"] as const;
type Source = (typeof SOURCES)[number];

/** What the example apps answer on GET /. */
interface Answer {
  server: string;
  pid: number;
  ppid: number;
  started: number;
}

interface Server {
  name: string;
  /** pidone options before `--`. */
  options: string[];
  command(port: number): string[];
  env?(port: number): Record<string, string>;
  /** Which field of the answer is the pid pidone spawned: the process itself, or its parent
   *  (Flask's reloader parent, gunicorn's master) when a child of it serves the request. */
  spawnedIs: "pid" | "ppid";
  /** How many processes one generation has once it is fully up. */
  processes: number;
  /** Wait until generation `gen` is fully up (beyond answering on its port), if that takes more. */
  fullyUp?(p: Pidone, gen: number): Promise<unknown>;
}

const SERVERS: Server[] = [
  {
    name: "flask --debug (reloader parent + serving child)",
    options: [],
    // Flask 2.2 (Debian 12) accepts --debug only before the command (`flask --debug run`); 2.3+ take both.
    command: (port) => [PY, "-m", "flask", "--app", path.join(APPS, "flask_app.py"), "--debug", "run", "--host", "127.0.0.1", "--port", String(port)],
    spawnedIs: "ppid",
    processes: 2,
  },
  {
    name: "gunicorn with 2 workers (--single-child)",
    // A pre-fork master drains its own workers: only it gets the stop signal (see the gunicorn tests below).
    options: ["--single-child"],
    command: (port) => ["/usr/bin/gunicorn", "--workers", "2", "--graceful-timeout", "5", "--bind", `127.0.0.1:${port}`, "--chdir", APPS, "wsgi_app:app"],
    spawnedIs: "ppid",
    processes: 3,
    // One worker may answer before the other has loaded the app; each prints a line when it has.
    fullyUp: (p, gen) => bootedWorkers(p, 2 * gen),
  },
  {
    name: "uvicorn",
    options: [],
    command: (port) => [PY, "-m", "uvicorn", "--app-dir", APPS, "--host", "127.0.0.1", "--port", String(port), "asgi_app:app"],
    spawnedIs: "pid",
    processes: 1,
  },
  {
    name: "plain Node HTTP server",
    options: [],
    command: () => [process.execPath, path.join(APPS, "node_server.js")],
    env: (port) => ({ PORT: String(port), HOST: "127.0.0.1" }),
    spawnedIs: "pid",
    processes: 1,
  },
];

describe("real servers under pidone as PID 1", () => {
  for (const server of SERVERS) {
    it(`${server.name}: answers, survives 10 mixed restarts with no older generation left, stops on SIGTERM`, async () => {
      const port = await freePort();
      const p = startPidone({
        args: ["--stop-timeout", `${STOP_TIMEOUT_MS}ms`, ...server.options, "--", ...server.command(port)],
        env: server.env?.(port) ?? {},
      });
      await p.waitForEvent("ready", undefined, UP_MS);
      const spawned = await p.waitForEvent("spawned", undefined, UP_MS);
      let answer = await answerFrom(p, port, (a) => a[server.spawnedIs] === spawned.pid, "generation 1");
      await server.fullyUp?.(p, 1);
      expect(p.tree().length, `generation 1 processes:\n${formatProcs(p.tree())}\n${p.output()}`).toBe(server.processes);

      for (let i = 1; i <= 10; i++) {
        const source = SOURCES[(i - 1) % SOURCES.length] as Source;
        const before = p.tree();
        const beforeKeys = new Set(before.map((x) => procKey(x.pid)));
        const previous = answer;

        const ev = await restartVia(p, source, i);
        expect(ev.source, p.output()).toBe(source);
        expect(ev.oldPid, p.output()).toBe(previous[server.spawnedIs]);
        expect(ev.newPid, p.output()).not.toBe(ev.oldPid);

        answer = await answerFrom(p, port, (a) => a[server.spawnedIs] === ev.newPid, `generation ${i + 1} (restart ${i} by ${source})`);
        expect(answer.pid, p.output()).not.toBe(previous.pid);
        expect(answer.started, p.output()).not.toBe(previous.started);

        await server.fullyUp?.(p, i + 1);
        const now = p.tree();
        const stale = now.filter((x) => beforeKeys.has(procKey(x.pid)));
        expect(stale, `processes of an older generation after restart ${i}:\n${formatProcs(stale)}\nbefore:\n${formatProcs(before)}\n${p.output()}`).toEqual([]);
        expect(now.length, `generation ${i + 1} processes:\n${formatProcs(now)}\n${p.output()}`).toBe(server.processes);
        expect(zombies(p.pid1), `zombies after restart ${i}\n${formatProcs(p.tree())}\n${p.output()}`).toEqual([]);
      }

      const appExitedBefore = p.all("app-exited").length;
      const t0 = performance.now();
      p.signal("SIGTERM");
      const exit = await p.waitExit(STOP_TIMEOUT_MS + 5000);
      const elapsed = performance.now() - t0;
      expect(elapsed, p.output()).toBeLessThan(STOP_TIMEOUT_MS);
      expect(p.all("stop-timeout"), p.output()).toEqual([]);
      const appExited = p.all("app-exited")[appExitedBefore];
      expect(appExited, p.output()).toBeDefined();
      // Every one of these apps stops cleanly on SIGTERM, and pidone passes its status on.
      expect(appExited?.status, p.output()).toBe("exit 0");
      expect(exit.code, p.output()).toBe(0);
      expect(p.all("exit").at(-1)?.code, p.output()).toBe(0);
    }, 180_000);
  }
});

describe("gunicorn: a pre-fork master drains its own workers", () => {
  const gunicorn = (port: number, workers = 2) =>
    ["/usr/bin/gunicorn", "--workers", String(workers), "--graceful-timeout", "5", "--bind", `127.0.0.1:${port}`, "--chdir", APPS, "wsgi_app:app"];

  it("--single-child: SIGHUP reaches only the master, which replaces its workers gracefully", async () => {
    const port = await freePort();
    const p = startPidone({ args: ["--single-child", "--", ...gunicorn(port)] });
    const spawned = await p.waitForEvent("spawned", undefined, UP_MS);
    const old = await bootedWorkers(p, 2);
    const first = await answerFrom(p, port, (a) => a.ppid === spawned.pid, "a worker of the master");

    p.signal("SIGHUP");
    await p.until(() => p.stderr.includes("Hang up: Master"), "gunicorn's master to handle SIGHUP", UP_MS);
    await bootedWorkers(p, 4);
    // The master stops the old workers with SIGTERM; each runs its graceful exit path and logs it.
    // (gunicorn 20.1 may then log "terminated due to signal 15" for them: its master sends SIGTERM
    // again while they are already exiting, benoitc/gunicorn#2908. That is gunicorn, not pidone.)
    for (const pid of old) await p.until(() => p.stderr.includes(`Worker exiting (pid: ${pid})`), `old worker ${pid} to exit gracefully`, UP_MS);
    const after = await answerFrom(p, port, (a) => a.ppid === spawned.pid && !old.includes(a.pid), "a new worker of the same master");
    expect(after.started, p.output()).not.toBe(first.started);
    expect(p.stderr, p.output()).not.toMatch(/terminated due to signal 1\b/);
    expect(p.all("restart"), p.output()).toEqual([]);
  }, 60_000);

  it("--single-child: SIGTTIN reaches gunicorn's master as SIGTTIN (one more worker), not as SIGSTOP", async () => {
    const port = await freePort();
    const p = startPidone({ args: ["--single-child", "--log-level", "debug", "--", ...gunicorn(port)] });
    await p.waitForEvent("spawned", undefined, UP_MS);
    await bootedWorkers(p, 2);
    p.signal("SIGTTIN");
    await p.until(() => p.stderr.includes("Handling signal: ttin"), "the master to handle SIGTTIN", UP_MS);
    await bootedWorkers(p, 3);
    expect(p.all("signal-translated"), p.output()).toEqual([]);
  }, 60_000);

  it("without --single-child, a forwarded SIGHUP kills every worker (why pre-fork servers need --single-child)", async () => {
    const port = await freePort();
    const p = startPidone({ args: ["--", ...gunicorn(port)] });
    const spawned = await p.waitForEvent("spawned", undefined, UP_MS);
    const old = await bootedWorkers(p, 2);
    await answerFrom(p, port, (a) => a.ppid === spawned.pid, "a worker");
    p.signal("SIGHUP");
    // Workers reset SIGHUP to its default action: the group-wide signal terminates them, mid-request
    // if they are serving one, instead of the master's graceful reload.
    for (const pid of old) await p.until(() => p.stderr.includes(`Worker with pid ${pid} was terminated due to signal 1\n`), `worker ${pid} to be killed by SIGHUP`, UP_MS);
    expect(p.stderr, p.output()).not.toMatch(new RegExp(`Worker exiting \\(pid: (${old.join("|")})\\)`));
  }, 60_000);

  it("--single-child: SIGTERM lets an in-flight request finish, then pidone exits 0", async () => {
    const port = await freePort();
    const p = startPidone({ args: ["--single-child", "--stop-timeout", `${STOP_TIMEOUT_MS}ms`, "--", ...gunicorn(port)] });
    const spawned = await p.waitForEvent("spawned", undefined, UP_MS);
    await answerFrom(p, port, (a) => a.ppid === spawned.pid, "a worker");
    const slow = httpGet(port, "/slow?ms=1500", 15_000);
    await p.waitForStdout(/SLOW START/, UP_MS);
    p.signal("SIGTERM");
    const res = await slow.catch((err: Error) => {
      throw new Error(`in-flight request failed during shutdown: ${err.message}\n${p.output()}`);
    });
    expect(res.status, p.output()).toBe(200);
    expect(res.body, p.output()).toBe("slow done\n");
    const exit = await p.waitExit(STOP_TIMEOUT_MS + 5000);
    expect(exit.code, p.output()).toBe(0);
    expect(p.all("stop-timeout"), p.output()).toEqual([]);
  }, 60_000);
});

// --- local helpers ---------------------------------------------------------------------------

/** Ask for restart number `n` through `source`; resolves with pidone's n-th `restart` event. */
async function restartVia(p: Pidone, source: Source, n: number): Promise<LogEvent> {
  const event = p.waitForEvent("restart", undefined, UP_MS, n);
  switch (source) {
    case "signal":
      p.signal("SIGUSR1");
      return event;
    case "trigger-file":
      writeFileSync(path.join(p.dir, ".restart_trigger"), "");
      return event;
    case "control": {
      const res = await run(process.execPath, [BUNDLE, "restart"], { env: { PIDONE_CONTROL_SOCKET: p.socket }, timeoutMs: UP_MS });
      const ev = await event;
      expect(res.code, `pidone restart: ${res.stderr}\n${p.output()}`).toBe(0);
      expect(res.stdout.trim(), p.output()).toBe(String(ev.newPid));
      return ev;
    }
  }
}




/** Wait until `n` gunicorn workers in total have loaded the app (examples/apps/wsgi_app.py prints
 *  a line then), which a worker does after installing its signal handlers. */
async function bootedWorkers(p: Pidone, n: number): Promise<number[]> {
  const lines = await p.waitForStdout(/wsgi_app loaded in pid (\d+)/, UP_MS, n);
  return lines.map((m) => Number(m[1]));
}

/** pid plus start time (field 22 of /proc/PID/stat): a key a reused pid cannot match. */
function procKey(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return `${pid}@${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`;
  } catch {
    return `${pid}@gone`;
  }
}


/** Poll until an answer from the right process satisfies `ok` (see helpers/http.ts). */
function answerFrom(p: Pidone, port: number, ok: (a: Answer) => boolean, what: string, timeoutMs = UP_MS): Promise<Answer> {
  return answerFromPort<Answer>(p, port, ok, what, timeoutMs);
}
