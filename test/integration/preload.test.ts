// --preload, with pidone as PID 1: generations forked from a zygote that imported the heavy
// modules once. A warm generation must be indistinguishable from a cold one (same argv, sys.path,
// __main__, environment, signals, descriptors, exit codes); real servers (Flask, a plain script,
// gunicorn with two workers) restart ten times each with the code as edited just before; a
// module changed on disk, or a zygote that died, gives one cold generation, then warm ones again.
// "Warm" is read from pidone's debug log: `preload-forked` names the pid the zygote forked.
import { afterEach, describe, expect, it } from "vitest";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { BUNDLE, FIXTURES, cleanupAll, run, runPidone, startPidone, type LogEvent, type Pidone } from "../helpers/pidone.js";
import { answerFrom, formatProcs, freePort } from "../helpers/http.js";
import { zombies } from "../helpers/proc.js";

afterEach(cleanupAll);

const PY = "/usr/bin/python3";
const UP_MS = 20_000;
const RESTARTS = 10;

/** The pid the n-th spawn got, and whether the zygote forked it (warm) or it started cold. */
async function generation(p: Pidone, n: number): Promise<{ pid: number; warm: boolean }> {
  const spawned = n === 1 ? await p.waitForEvent("spawned") : await p.waitForEvent("restart", () => true, UP_MS, n - 1);
  const pid = Number(n === 1 ? spawned.pid : spawned.newPid);
  return { pid, warm: p.events.some((e) => e.event === "preload-forked" && e.pid === pid) };
}

/** The STATE line the n-th generation printed, parsed. */
async function stateLine(p: Pidone, n = 1): Promise<Record<string, unknown>> {
  const m = await p.waitForStdout(/^STATE (.*)$/m, UP_MS, n);
  return JSON.parse((m[n - 1] as RegExpMatchArray)[1] as string) as Record<string, unknown>;
}

/** A temp dir holding a copy of the state fixture. */
function stateDir(p?: string): string {
  const dir = p ?? path.join(require("node:os").tmpdir(), `pidone-preload-${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  copyFileSync(path.join(FIXTURES, "preload_state.py"), path.join(dir, "preload_state.py"));
  return dir;
}

const BASE = ["--log-level", "debug", "--restart", "never"];

/** A state without what differs between two pidones by construction: the control socket path in
 *  the environment, and descriptors above the standard ones and the --listen ones, which a cold
 *  app inherits from whatever started pidone without close-on-exec (the test runner leaks one). */
function comparable(s: Record<string, unknown>): Record<string, unknown> {
  const env = { ...(s.env as Record<string, string>) };
  delete env.PIDONE_CONTROL_SOCKET;
  const keep = 3 + Number(env.LISTEN_FDS ?? 0) + 1; // + the one listdir opened
  return { ...s, env, fds: (s.fds as number[]).filter((fd) => fd < keep) };
}

describe("a warm generation is started exactly like a cold one", () => {
  const modes: [string, (action: string) => string[]][] = [
    ["a script", (a) => [PY, "preload_state.py", a]],
    ["-m MODULE", (a) => [PY, "-m", "preload_state", a]],
    ["-c CODE", (a) => [PY, "-c", "exec(open('preload_state.py').read())", a]],
    ["interpreter options and a script", (a) => [PY, "-u", "-X", "utf8", "preload_state.py", a]],
  ];
  for (const [name, command] of modes) {
    it(`${name}: argv, sys.path[0], __main__, env, cwd, signals, mask, fds, session`, async () => {
      // One after the other in the same directory: cwd and paths may not differ.
      const dir = stateDir();
      const states: Record<string, unknown>[] = [];
      for (const preload of [[], ["--preload", "json,http.server"]]) {
        const p = startPidone({ args: [...BASE, ...preload, "--", ...command("wait")], cwd: dir });
        states.push(await stateLine(p));
        expect((await generation(p, 1)).warm, p.output()).toBe(preload.length > 0);
        // SIGTERM reaches it with the default disposition in both: 128+15.
        p.signal("SIGTERM");
        expect(await p.waitExit()).toEqual({ code: 143, signal: null });
      }
      const [c, w] = states.map(comparable) as [Record<string, unknown>, Record<string, unknown>];
      expect(w).toEqual(c);
      expect(w).toMatchObject({ name: "__main__", sid_is_pid: true, pgrp_is_pid: true, threads: 1, mask: [], fds: [0, 1, 2, 3] });
    });
  }

  it("--listen: the generation's sockets at 3, LISTEN_FDS and LISTEN_PID as in a cold one, none of the zygote's", async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const cold = startPidone({ args: [...BASE, "--listen", `127.0.0.1:${p1}`, "--", PY, "preload_state.py"], cwd: stateDir() });
    const warm = startPidone({ args: [...BASE, "--listen", `127.0.0.1:${p2}`, "--preload", "json", "--", PY, "preload_state.py"], cwd: stateDir() });
    const [c, w] = [await stateLine(cold), await stateLine(warm)].map(comparable) as [Record<string, unknown>, Record<string, unknown>];
    expect((await generation(warm, 1)).warm).toBe(true);
    for (const s of [c, w]) {
      s.cwd = s.path0 = s.argv = s.orig_argv = s.file = null; // two dirs; compared in the tests above
      // Two ports; and the cold one went through the /bin/sh exec shim, which rewrites PWD.
      const env = s.env as Record<string, string>;
      delete env.LISTEN_FDNAMES;
      delete env.PWD;
    }
    expect(w).toEqual(c);
    expect(w).toMatchObject({ listen_pid_is_me: true, fds: [0, 1, 2, 3, 4] });
    expect((w.env as Record<string, string>).LISTEN_FDS).toBe("1");
  });

  it.each([
    ["exit:7", 7, null],
    ["raise", 1, /RuntimeError: boom from the app/],
    ["kbd", 130, /KeyboardInterrupt/],
  ] as const)("the app ending by %s gives pidone the same exit code, warm and cold", async (action, code, stderr) => {
    const dir = stateDir();
    for (const preload of [[], ["--preload", "json"]]) {
      const { exit, p } = await runPidone({ args: [...BASE, ...preload, "--", PY, "preload_state.py", action], cwd: dir });
      expect(exit, p.output()).toEqual({ code, signal: null });
      if (stderr) expect(p.stderr).toMatch(stderr);
      if (preload.length > 0) expect(p.all("preload-forked")).toHaveLength(1);
    }
  });
});

describe("crashes", () => {
  it("a crashing warm generation is backed off and restarted warm, then pidone gives up with its code", async () => {
    const { exit, p } = await runPidone({ args: ["--log-level", "debug", "--max-restarts", "2", "--preload", "json", "--", PY, "preload_state.py", "exit:3"], cwd: stateDir() }, 30_000);
    expect(exit, p.output()).toEqual({ code: 3, signal: null });
    expect(p.all("spawned").length + p.all("restart").length).toBe(3);
    expect(p.all("preload-forked")).toHaveLength(3);
    expect(p.all("gave-up")).toMatchObject([{ status: "exit 3" }]);
  });
});

describe("refused at startup, exit 2, one line", () => {
  it.each([
    ["a command that is not Python", ["--preload", "json", "--", "sh", "-c", "sleep 5"], /^pidone: --preload: 'sh' is not a Python interpreter/],
    ["a module that does not import", ["--preload", "json,no_such_module_here", "--", PY, "preload_state.py"], /^pidone: --preload no_such_module_here: ModuleNotFoundError: No module named 'no_such_module_here'$/],
    ["the app's own module (under the working directory)", ["--preload", "preload_state", "--", PY, "preload_state.py"], /^pidone: --preload: module 'preload_state' is the app's own code/],
    ["a bad module name", ["--preload", "flask;rm", "--", PY, "preload_state.py"], /^pidone: --preload: 'flask;rm' is not a Python module name/],
  ])("%s", async (_name, args, message) => {
    const dir = stateDir();
    const { exit, p } = await runPidone({ args, cwd: dir });
    expect(exit, p.output()).toEqual({ code: 2, signal: null });
    const lines = p.stderr.split("\n").filter((l) => l.startsWith("pidone:"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(p.stdout.toString()).not.toContain("STATE");
  });
});

/** What every test app answers on GET /. */
interface Answer {
  pid: number;
  ppid: number;
  version: number;
  lib?: number;
}

type Source = "signal" | "trigger-file" | "control" | "watch";

interface Server {
  name: string;
  options: string[];
  /** How it is restarted, in turn; "watch": editing the code is the restart (--watch). */
  sources: Source[];
  preload: string;
  /** Write version `v` of the app's code into `dir`. */
  write(dir: string, v: number, port: number): void;
  command(dir: string, port: number): string[];
  /** Which pid pidone spawned: the answering process, or its parent (gunicorn's master). */
  spawnedIs: "pid" | "ppid";
  /** Processes below pidone once a generation is up, the zygote included. */
  processes: number;
  /** The exit code SIGTERM gives. */
  termCode: number;
  fullyUp?(p: Pidone, gen: number): Promise<unknown>;
}

const FLASK_APP = (v: number) => `import os
from flask import Flask, jsonify
VERSION = ${v}
app = Flask(__name__)


@app.get("/")
def index():
    return jsonify(pid=os.getpid(), ppid=os.getppid(), version=VERSION)
`;

const SCRIPT_APP = (v: number, port: number) => `import json, os, signal, subprocess, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
import fakelib
VERSION = ${v}
signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
# An orphan for pidone: the shell exits at once, its background sleep is re-parented to PID 1.
subprocess.run(["sh", "-c", "sleep 1000 > /dev/null 2>&1 &"], check=True)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "version": VERSION, "lib": fakelib.VALUE}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", ${port}), Handler).serve_forever()
`;

const WSGI_APP = (v: number) => `import json, os
VERSION = ${v}
print(f"app v{VERSION} loaded in pid {os.getpid()}", flush=True)


def app(environ, start_response):
    body = json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "version": VERSION}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
`;

/** A third-party library outside the app's directory (on PYTHONPATH), that a test can "upgrade". */
function writeLib(root: string, value: number): void {
  mkdirSync(path.join(root, "lib"), { recursive: true });
  writeFileSync(path.join(root, "lib", "fakelib.py"), `# version ${value}${" ".repeat(value)}\nVALUE = ${value}\n`);
}

const SERVERS: Server[] = [
  {
    name: "Flask (python3 -m flask --app flask_app run, --watch)",
    options: ["--watch", "."],
    sources: ["watch"],
    preload: "flask",
    write: (dir, v) => writeFileSync(path.join(dir, "flask_app.py"), FLASK_APP(v)),
    command: (_dir, port) => [PY, "-m", "flask", "--app", "flask_app", "run", "--host", "127.0.0.1", "--port", String(port)],
    spawnedIs: "pid",
    processes: 2,
    termCode: 143,
  },
  {
    name: "a plain script (http.server) that leaves an orphan",
    options: [],
    sources: ["signal", "trigger-file", "control"],
    preload: "http.server,json,fakelib",
    write: (dir, v, port) => writeFileSync(path.join(dir, "server.py"), SCRIPT_APP(v, port)),
    command: () => [PY, "server.py"],
    spawnedIs: "pid",
    processes: 3,
    termCode: 3,
  },
  {
    name: "gunicorn with 2 workers (--single-child)",
    options: ["--single-child"],
    sources: ["signal", "trigger-file", "control"],
    preload: "gunicorn.app.wsgiapp,gunicorn.arbiter,gunicorn.workers.sync,json",
    write: (dir, v) => writeFileSync(path.join(dir, "wsgi_app.py"), WSGI_APP(v)),
    command: (dir, port) => ["/usr/bin/gunicorn", "--workers", "2", "--graceful-timeout", "5", "--bind", `127.0.0.1:${port}`, "--chdir", dir, "wsgi_app:app"],
    spawnedIs: "ppid",
    processes: 4,
    termCode: 0,
    fullyUp: (p, gen) => p.waitForStdout(/app v\d+ loaded in pid \d+/, UP_MS, 2 * gen),
  },
];

/** Start `s` under pidone with --preload, in app/ of a fresh dir, fakelib in lib/ beside it. */
async function startServer(s: Server, prepare?: (root: string) => void, preload = s.preload): Promise<{ p: Pidone; port: number; dir: string; root: string }> {
  const root = stateDir();
  const dir = path.join(root, "app");
  mkdirSync(dir);
  writeLib(root, 1);
  prepare?.(root);
  const port = await freePort();
  s.write(dir, 1, port);
  const p = startPidone({
    args: ["--log-level", "debug", ...s.options, "--preload", preload, "--", ...s.command(dir, port)],
    cwd: dir, env: { PYTHONPATH: path.join(root, "lib"), PYTHONDONTWRITEBYTECODE: "1" },
  });
  return { p, port, dir, root };
}

/** Wait until generation `gen` answers with version `version`; returns the answer. */
async function upAt(s: Server, p: Pidone, port: number, gen: number, version: number): Promise<{ answer: Answer; warm: boolean }> {
  const g = await generation(p, gen);
  const answer = await answerFrom<Answer>(p, port, (a) => a[s.spawnedIs] === g.pid && a.version === version, `generation ${gen} (pid ${g.pid}, v${version})`, UP_MS);
  await s.fullyUp?.(p, gen);
  return { answer, warm: g.warm };
}

/** Only the zygote and the current generation are left, and no zombie. */
function onlyCurrent(s: Server, p: Pidone): void {
  const procs = p.tree().filter((x) => x.state !== "Z");
  expect(procs.length, formatProcs(procs)).toBe(s.processes);
  expect(procs.filter((x) => x.cmdline.includes("_pidone_zygote") && x.ppid === p.pid1), formatProcs(procs)).toHaveLength(s.processes === 4 ? 3 : 2);
  expect(zombies(p.pid1), formatProcs(p.tree())).toEqual([]);
}

describe.each(SERVERS)("$name, restarted ten times with --preload", (s) => {
  it("answers from a new, warm pid with the code as edited just before; nothing older is left; SIGTERM stops it with the app's code", async () => {
    const { p, port, dir } = await startServer(s);
    const first = await upAt(s, p, port, 1, 1);
    expect(first.warm, p.output()).toBe(true);
    await p.waitForEvent("ready"); // the trigger file and the watcher run from here
    const zygote = Number(p.all("preload-ready")[0]?.pid);
    const pids = new Set([first.answer[s.spawnedIs]]);
    for (let gen = 2; gen <= RESTARTS + 1; gen++) {
      s.write(dir, gen, port);
      const source = s.sources[gen % s.sources.length] as Source;
      await restartVia(p, source, gen - 1);
      const { answer, warm } = await upAt(s, p, port, gen, gen);
      expect(warm, `generation ${gen}\n${p.output()}`).toBe(true);
      expect(pids.has(answer[s.spawnedIs])).toBe(false);
      pids.add(answer[s.spawnedIs]);
      // The zygote's children only: the first line of the tree is the zygote itself.
      const procs = p.tree().filter((x) => x.state !== "Z");
      expect(procs.length, formatProcs(procs)).toBe(s.processes);
      expect(zombies(p.pid1), formatProcs(p.tree())).toEqual([]);
    }
    // `pidone status` names the generation, not the zygote.
    const status = await run(process.execPath, [BUNDLE, "status", "--json"], { env: { PIDONE_CONTROL_SOCKET: p.socket }, timeoutMs: UP_MS });
    expect(JSON.parse(status.stdout)).toMatchObject({ pid: Number(p.all("restart").at(-1)?.newPid) });
    // One zygote all along, never restarted or swept.
    expect(p.all("preload-forked").every((e: LogEvent) => e.zygote === zygote)).toBe(true);
    expect(p.all("preload-cold")).toEqual([]);
    p.signal("SIGTERM");
    expect(await p.waitExit(UP_MS)).toEqual({ code: s.termCode, signal: null });
  });
});

/** Ask for restart number `n` through `source`; resolves once pidone logged it. */
async function restartVia(p: Pidone, source: Source, n: number): Promise<LogEvent> {
  const event = p.waitForEvent("restart", undefined, UP_MS, n);
  switch (source) {
    case "signal":
      p.signal("SIGUSR1");
      break;
    case "trigger-file":
      writeFileSync(path.join(p.dir, ".restart_trigger"), "");
      break;
    case "control": {
      const res = await run(process.execPath, [BUNDLE, "restart"], { env: { PIDONE_CONTROL_SOCKET: p.socket }, timeoutMs: UP_MS });
      expect(res.code, `pidone restart: ${res.stderr}\n${p.output()}`).toBe(0);
      break;
    }
    case "watch":
      break; // the edit itself
  }
  const ev = await event;
  expect(ev.source).toBe(source);
  return ev;
}

describe("never wrong, only sometimes cold", () => {
  const script = SERVERS[1] as Server;

  it("a preloaded module changed on disk gives one cold generation with the new code, then warm ones again", async () => {
    const { p, port, root } = await startServer(script);
    expect((await upAt(script, p, port, 1, 1)).warm).toBe(true);
    p.signal("SIGUSR1");
    const second = await upAt(script, p, port, 2, 1);
    expect(second).toMatchObject({ warm: true, answer: { lib: 1 } });
    writeLib(root, 2); // a `pip install` in the pod
    p.signal("SIGUSR1");
    const third = await upAt(script, p, port, 3, 1);
    expect(third, p.output()).toMatchObject({ warm: false, answer: { lib: 2 } });
    expect(p.all("preload-cold")).toMatchObject([{ reason: "module-changed", file: path.join(root, "lib", "fakelib.py") }]);
    p.signal("SIGUSR1");
    const fourth = await upAt(script, p, port, 4, 1);
    expect(fourth, p.output()).toMatchObject({ warm: true, answer: { lib: 2 } });
    expect(p.all("preload-cold")).toHaveLength(1);
  });

  it("a preload that leaves a thread running: one warning, preloading off, every generation cold and working", async () => {
    const { p, port } = await startServer(script, (root) => {
      writeFileSync(path.join(root, "lib", "threadlib.py"), "import threading, time\nthreading.Thread(target=time.sleep, args=(1000,), daemon=True).start()\n");
    }, "http.server,threadlib");
    expect((await upAt(script, p, port, 1, 1)).warm).toBe(false);
    expect(p.all("preload-off")).toMatchObject([{ reason: "threads", threads: 2 }]);
    p.signal("SIGUSR1");
    expect((await upAt(script, p, port, 2, 1)).warm).toBe(false);
    expect(p.all("preload-off")).toHaveLength(1);
  });

  it("a zygote that does not answer (stopped) is killed after 5 s and that generation starts cold", async () => {
    const { p, port } = await startServer(script);
    expect((await upAt(script, p, port, 1, 1)).warm).toBe(true);
    const zygote = p.tree().find((x) => x.cmdline.includes("_pidone_zygote") && x.ppid === p.pid1);
    process.kill((zygote as { pid: number }).pid, "SIGSTOP");
    p.signal("SIGUSR1");
    const second = await upAt(script, p, port, 2, 1);
    expect(second.warm).toBe(false);
    expect(p.all("preload-cold")).toMatchObject([{ reason: "zygote-exited", status: "signal SIGKILL" }]);
    p.signal("SIGUSR1");
    expect((await upAt(script, p, port, 3, 1)).warm, p.output()).toBe(true);
  });

  /** A warm first generation up, then its zygote SIGKILLed: the generation is pidone's child now. */
  async function zygoteKilledUnder(s: Server): Promise<{ p: Pidone; port: number; first: { answer: Answer; warm: boolean } }> {
    const { p, port } = await startServer(s);
    const first = await upAt(s, p, port, 1, 1);
    expect(first.warm).toBe(true);
    const zygote = p.tree().find((x) => x.cmdline.includes("_pidone_zygote") && x.ppid === p.pid1);
    expect(zygote, formatProcs(p.tree())).toBeDefined();
    process.kill((zygote as { pid: number }).pid, "SIGKILL");
    await p.waitForEvent("preload-zygote-exited");
    return { p, port, first };
  }

  it("a zygote that died: the running generation is still supervised; the next starts cold, the one after warm", async () => {
    const { p, port, first } = await zygoteKilledUnder(script);
    // Its generation is now pidone's own child; its exit status still reaches the machine.
    p.signal("SIGUSR1");
    const exited = await p.waitForEvent("app-exited");
    expect(exited).toMatchObject({ pid: first.answer.pid, status: "exit 3" });
    // pidone's one reaper (child/tree.ts) collected it.
    await p.waitForEvent("reaped", (e: LogEvent) => (e.pids as number[]).includes(first.answer.pid));
    const second = await upAt(script, p, port, 2, 1);
    expect(second.warm).toBe(false);
    expect(p.all("preload-cold")).toMatchObject([{ reason: "zygote-exited" }]);
    p.signal("SIGUSR1");
    expect((await upAt(script, p, port, 3, 1)).warm, p.output()).toBe(true);
    p.signal("SIGTERM");
    expect(await p.waitExit(UP_MS)).toEqual({ code: 3, signal: null });
  });

  it("a zygote that died, then its generation killed by a signal: the signal reaches the machine, no zombie is left", async () => {
    const { p, port, first } = await zygoteKilledUnder(script);
    // The app reports its pid in pidone's namespace: signal it by its pid out here.
    const app = p.tree().find((x) => nsPid(x.pid) === first.answer.pid);
    expect(app, formatProcs(p.tree())).toBeDefined();
    process.kill((app as { pid: number }).pid, "SIGKILL");
    const exited = await p.waitForEvent("app-exited");
    expect(exited, p.output()).toMatchObject({ pid: first.answer.pid, status: "signal SIGKILL" });
    await p.waitForEvent("reaped", (e: LogEvent) => (e.pids as number[]).includes(first.answer.pid));
    // The app's own child (sleep) is swept and reaped a moment after the app: wait for that.
    await p.until(() => zombies(p.pid1).length === 0, "no zombie left under pidone", 5000, 20);
    p.signal("SIGTERM");
    await p.waitExit(UP_MS);
  });
});

/** The pid of host process `pid` in the innermost PID namespace it is in (NSpid's last field). */
function nsPid(pid: number): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("NSpid:"));
    return line === undefined ? null : Number(line.trim().split(/\s+/).at(-1));
  } catch {
    return null; // gone meanwhile
  }
}

describe("with a terminal (a real pty, test/fixtures/pty-run.py)", () => {
  it("a warm generation gets the terminal as a cold one does: its own group, the foreground, ^C to the app", async () => {
    const p = startPidone({
      args: ["--restart", "never", "--no-control-socket", "--no-trigger-file", "--log-level", "debug", "--preload", "json", "--", PY, path.join(FIXTURES, "tty-app.py")],
      namespace: false, wrap: ["python3", path.join(FIXTURES, "pty-run.py"), "unshare", "--pid", "--fork", "--mount-proc", "--kill-child"],
    });
    try {
      const m = (await p.waitForStdout(/app TTY pid=(\d+) pgrp=(\d+) fg=(\S+) foreground=(\w+)/))[0] as RegExpMatchArray;
      expect(m[2], p.output()).toBe(m[1]);
      expect(m[4], p.output()).toBe("True");
      await p.waitForStdout(/app READY/);
      // pidone's line and the app's share the pty: either may come first.
      await p.waitForStdout(new RegExp(`"event":"preload-forked","pid":${m[1]}`));
      process.kill(p.proc.pid as number, "SIGUSR1"); // the driver types ^C
      await p.waitForStdout(/app GOT INT 1/);
      process.kill(p.proc.pid as number, "SIGUSR1");
      expect((await p.waitExit()).code, p.output()).toBe(5);
    } finally {
      for (const d of p.exit ? [] : p.tree()) {
        try {
          process.kill(d.pid, "SIGKILL");
        } catch {
          // gone already
        }
      }
    }
  });
});
