// Socket handoff (--listen) and the health server (--health), with pidone as PID 1.
// The proof of zero downtime: a client opens a new connection for every request (so each one
// really goes through accept) while the app is restarted 20 times. With --listen, pidone holds
// the listening socket between generations and every request succeeds; without it, the same
// loop records connection errors while the port is closed (the negative control).
// gunicorn and uvicorn come from Debian (/usr/bin/gunicorn, /usr/bin/python3 -m uvicorn).
import { afterEach, describe, expect, it } from "vitest";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { BUNDLE, FIXTURES, ROOT, cleanupAll, run, startPidone, type Pidone } from "../helpers/pidone.js";
import { answerFrom as answerFromPort, freePort, httpGet } from "../helpers/http.js";
import { readable } from "../helpers/readable.js";

afterEach(cleanupAll);

const APPS = path.join(ROOT, "examples/apps");
const PY = "/usr/bin/python3";
const UP_MS = 20_000;
const RESTARTS = 20;
/** Requests between two restarts, all from the generation that is up: >= 2,000 in all. */
const PER_RESTART = 100;
const FD_SERVER = path.join(FIXTURES, "listen-fd-server.js");
const SLOW_SERVER = path.join(FIXTURES, "slow-accept-server.py");
const READ_LATE_SERVER = path.join(FIXTURES, "read-late-server.py");

interface Answer {
  pid: number;
  ppid?: number;
}

interface Server {
  name: string;
  options: string[];
  /** The command with the handed-off fd 3, or with its own port. */
  command(port: number | null): string[];
  /** Which field of an answer is the pid pidone spawned. */
  spawnedIs: "pid" | "ppid";
}

const SERVERS: Server[] = [
  {
    name: "gunicorn, 2 workers",
    options: ["--single-child"],
    // gunicorn reads LISTEN_FDS itself (and checks LISTEN_PID): adding `--bind fd://3` as well
    // would make it open fd 3 twice, and the second dup fails with EBADF (gunicorn 20.1's
    // sock.create_sockets). So: no --bind with --listen.
    command: (port) => ["/usr/bin/gunicorn", "--workers", "2", "--graceful-timeout", "5", ...(port === null ? [] : ["--bind", `127.0.0.1:${port}`]), "--chdir", APPS, "wsgi_app:app"],
    spawnedIs: "ppid",
  },
  {
    name: "uvicorn",
    options: [],
    command: (port) => [PY, "-m", "uvicorn", "--app-dir", APPS, ...(port === null ? ["--fd", "3"] : ["--host", "127.0.0.1", "--port", String(port)]), "--log-level", "warning", "asgi_app:app"],
    // uvicorn's graceful shutdown closes every connection that has no request cycle yet, so a
    // connection it accepted in the same instant, request unread, would be reset. pidone's drain
    // (new connections go to the next generation's socket before the old one is signalled) is
    // what makes this one pass.
    spawnedIs: "pid",
  },
];

describe("--listen: zero-downtime restarts under a client loop", () => {
  for (const server of SERVERS) {
    for (const [listen, clients] of [[true, 1], [true, 8], [false, 1]] as const) {
      const mode = listen ? "with --listen: every request succeeds" : "without --listen (negative control): the loop sees connection errors";
      it(`${server.name}, ${RESTARTS} restarts, ${clients === 1 ? "one client" : `${clients} concurrent clients`}, ${mode}`, async () => {
        const port = await freePort();
        const p = startPidone({
          args: [...(listen ? ["--listen", `127.0.0.1:${port}`] : []), ...server.options, "--", ...server.command(listen ? null : port)],
        });
        if (listen) expect((await p.waitForEvent("listening")).address).toBe(`127.0.0.1:${port}`);
        const first = await p.waitForEvent("spawned", undefined, UP_MS);
        await answerFrom(p, port, (a) => a[server.spawnedIs] === first.pid, "generation 1");
        const steady = await latency(port, 300);

        const client = new Client(port, 50_000 * clients, clients);
        const firstServedMs: number[] = [];
        let pid = first.pid as number;
        for (let i = 1; i <= RESTARTS; i++) {
          const from = client.sent;
          await client.until(() => client.sent - from >= PER_RESTART && client.last?.[server.spawnedIs] === pid, `${PER_RESTART} requests to generation ${i}`, p);
          const t0 = performance.now();
          const ev = p.waitForEvent("restart", undefined, UP_MS, i);
          if (i % 2 === 1) p.signal("SIGUSR1");
          else {
            const res = await run(process.execPath, [BUNDLE, "restart"], { env: { PIDONE_CONTROL_SOCKET: p.socket }, timeoutMs: UP_MS });
            expect(res.code, `pidone restart: ${res.stderr}\n${p.output()}`).toBe(0);
          }
          pid = (await ev).newPid as number;
          const served = await client.until(() => client.firstFrom(server.spawnedIs, pid), `a request served by generation ${i + 1}`, p);
          firstServedMs.push(served - t0);
        }
        const from = client.sent;
        await client.until(() => client.sent - from >= PER_RESTART, "the last requests", p);
        await client.stop();

        const errors = Object.values(client.errors).reduce((a, b) => a + b, 0);
        const summary = `${server.name} ${listen ? "with" : "without"} --listen, ${clients} client(s): ${client.sent} requests, ${client.ok} ok, ` +
          `${errors} errors ${JSON.stringify(client.errors)}; restart request -> first request served by the new generation: ` +
          `median ${median(firstServedMs).toFixed(0)} ms, max ${Math.max(...firstServedMs).toFixed(0)} ms; ` +
          `steady-state latency median ${steady.median.toFixed(2)} ms, p99 ${steady.p99.toFixed(2)} ms`;
        console.log(summary);
        expect(client.sent).toBeGreaterThanOrEqual(RESTARTS * PER_RESTART);
        expect(p.all("restart"), p.output()).toHaveLength(RESTARTS);
        if (listen) expect(client.errors, `${summary}\n${p.output()}`).toEqual({});
        else expect(errors, summary).toBeGreaterThan(0);

        p.signal("SIGTERM");
        expect((await p.waitExit(15_000)).code, p.output()).toBe(0);
      }, 240_000);
    }
  }
});

describe("--listen: the systemd protocol, the exec shim, and bad input", () => {
  for (const shim of ["sh", "node"] as const) {
    it(`a Node server on fd 3 gets LISTEN_PID = its own pid, LISTEN_FDS, LISTEN_FDNAMES (${shim} shim), in every generation`, async () => {
      const port = await freePort();
      const p = startPidone({
        args: ["--listen", `127.0.0.1:${port}`, "--listen", `unix:sock`, "--", process.execPath, FD_SERVER],
        env: shimEnv(shim),
      });
      expect((await p.waitForEvent("listening", (e) => e.fd === 4)).address).toBe(`unix:${path.join(p.dir, "sock")}`);
      for (let gen = 1; gen <= 2; gen++) {
        const pid = gen === 1 ? (await p.waitForEvent("spawned", undefined, UP_MS)).pid : (await p.waitForEvent("restart", undefined, UP_MS)).newPid;
        const a = await answerFrom(p, port, (x) => x.pid === pid, `generation ${gen}`) as Answer & Record<string, unknown>;
        expect(a, p.output()).toEqual({ pid, listenPid: String(pid), listenFds: "2", listenFdNames: `tcp-${port}:unix-sock` });
        // The app is pidone's direct child: the shim exec'd in place, it did not fork.
        expect(p.tree().map((x) => x.cmdline), p.output()).toEqual([`${process.execPath} ${FD_SERVER}`]);
        if (gen === 1) p.signal("SIGUSR1");
      }
      p.signal("SIGTERM");
      expect((await p.waitExit()).code, p.output()).toBe(0);
      expect(existsSync(path.join(p.dir, "sock")), "the unix socket file is removed at exit").toBe(false);
    }, 60_000);

    it(`a missing or non-executable command still exits 127/126 with one line (${shim} shim)`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "pidone-listen-"));
      const noexec = path.join(dir, "app");
      writeFileSync(noexec, "#!/bin/sh\necho hi\n");
      chmodSync(noexec, 0o644);
      const env = shimEnv(shim);
      try {
        for (const [cmd, code, message] of [
          ["/no/such/command", 127, "/no/such/command: command not found"],
          ["no-such-command-on-path", 127, "no-such-command-on-path: command not found"],
          [noexec, 126, `${noexec}: permission denied (not executable, or a directory)`],
        ] as const) {
          const port = await freePort();
          const p = startPidone({ args: ["--listen", `127.0.0.1:${port}`, "--", cmd, "x"], env });
          const exit = await p.waitExit();
          expect(exit.code, p.output()).toBe(code);
          expect(p.all("spawn-failed").map((e) => e.message), p.output()).toEqual([message]);
          expect(p.all("restart"), p.output()).toEqual([]);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  }

  it("keeps argv intact through the shim: spaces, quotes, $, globs, unicode, empty", async () => {
    const args = ["a b", "\"q\" 'r'", "$HOME", "*", "ünï ✓", "", "-c", "--"];
    for (const shim of ["sh", "node"] as const) {
      const port = await freePort();
      const p = startPidone({
        args: ["--restart", "never", "--listen", `127.0.0.1:${port}`, "--", process.execPath, "-e", "console.log(JSON.stringify(process.argv.slice(1)))", ...args],
        env: shimEnv(shim),
      });
      expect((await p.waitExit()).code, p.output()).toBe(0);
      expect(JSON.parse(p.stdout.toString("utf8")), p.output()).toEqual(args);
    }
  });

  const bad = async (args: string[], says: RegExp, wrap: string[] = []) => {
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-listen-"));
    chmodSync(dir, 0o777);
    const marker = path.join(dir, "spawned");
    try {
      const r = await run(wrap[0] ?? process.execPath, [...wrap.slice(1), ...(wrap.length > 0 ? [readable(process.execPath), readable(BUNDLE)] : [BUNDLE]), "--no-trigger-file", ...args, "--", "sh", "-c", `touch ${marker}`], {
        cwd: dir, env: { PIDONE_CONTROL_SOCKET: "off", PIDONE_LOG_FORMAT: "json" },
      });
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^pidone: /);
      expect(lines[0]).toMatch(says);
      expect(existsSync(marker), "nothing was spawned").toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it("an address in use: exit 2, one line, nothing spawned (--listen and --health)", async () => {
    const holder = net.createServer();
    const port = await new Promise<number>((resolve) => holder.listen(0, "127.0.0.1", () => resolve((holder.address() as net.AddressInfo).port)));
    try {
      await bad(["--listen", `127.0.0.1:${port}`], new RegExp(`^pidone: --listen 127\\.0\\.0\\.1:${port}: address already in use \\(another process listens on port ${port}\\)$`));
      await bad(["--health", `127.0.0.1:${port}`], new RegExp(`^pidone: --health 127\\.0\\.0\\.1:${port}: address already in use`));
      // The second of two sockets fails: the first is closed again, and still nothing runs.
      const free = await freePort();
      await bad(["--listen", `127.0.0.1:${free}`, "--listen", `127.0.0.1:${port}`], /address already in use/);
    } finally {
      holder.close();
    }
  });

  it("an address a SO_REUSEPORT socket of the same user listens on is in use too (pidone's own sockets use SO_REUSEPORT)", async () => {
    const script = "import socket,sys\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n" +
      "s.bind(('127.0.0.1', 0))\ns.listen()\nprint(s.getsockname()[1], flush=True)\nsys.stdin.read()\n";
    const holder = spawn(PY, ["-c", script], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      const port = Number(await new Promise<string>((resolve) => holder.stdout.once("data", (d: Buffer) => resolve(d.toString()))));
      await bad(["--listen", `127.0.0.1:${port}`], new RegExp(`^pidone: --listen 127\\.0\\.0\\.1:${port}: address already in use`));
    } finally {
      holder.kill();
    }
  });

  it("a bad address or an address no interface has: exit 2, one line, nothing spawned", async () => {
    await bad(["--listen", "example.com:80"], /^pidone: --listen: invalid address 'example\.com:80': 'example\.com' is not an IP address; give an IP literal/);
    await bad(["--listen", "127.0.0.1:99999"], /^pidone: --listen: invalid address '127\.0\.0\.1:99999': port 99999 is out of range/);
    await bad(["--listen", "192.0.2.123:8000"], /^pidone: --listen 192\.0\.2\.123:8000: address not available \(no network interface has 192\.0\.2\.123\)$/);
    await bad(["--listen", "unix:/no/such/dir/s.sock"], /^pidone: --listen unix:\/no\/such\/dir\/s\.sock: directory \/no\/such\/dir does not exist$/);
  });

  it("a privileged port without permission (as nobody): exit 2, one line, nothing spawned", async () => {
    await bad(["--listen", "127.0.0.1:81"], /^pidone: --listen 127\.0\.0\.1:81: permission denied \(ports below 1024 need root or CAP_NET_BIND_SERVICE; use a port of 1024 or more\)$/,
      ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
  });
});

describe("--listen: the drain before a restart", () => {
  /** Three requests the paused (hung) generation 1 will never accept, each connected. */
  const queueOnHungApp = async (p: Pidone, port: number) => {
    await p.waitForStdout(/READY/, UP_MS);
    p.signal("SIGUSR2");
    await p.waitForStdout(/PAUSED/, UP_MS);
    const reqs = [0, 1, 2].map(() => rawRequest(port));
    await Promise.all(reqs.map((r) => r.connected));
    return reqs;
  };

  it("connections a hung generation never accepted are served by the next one", async () => {
    const port = await freePort();
    const p = startPidone({ args: ["--listen", `127.0.0.1:${port}`, "--", process.execPath, FD_SERVER] });
    const queued = await queueOnHungApp(p, port);
    p.signal("SIGUSR1");
    expect((await p.waitForEvent("drained", undefined, UP_MS)).notAccepted, p.output()).toBe(3);
    const { newPid } = await p.waitForEvent("restart", undefined, UP_MS);
    for (const r of await Promise.all(queued.map((q) => q.result))) expect(r, p.output()).toMatchObject({ status: 200, body: { pid: newPid } });
    expect(p.all("connections-reset"), p.output()).toEqual([]);
    p.signal("SIGTERM");
    expect((await p.waitExit()).code, p.output()).toBe(0);
  }, 60_000);

  it("a slow generation drains its whole queue while new connections wait for the next one: every request is served", async () => {
    const port = await freePort();
    // One accept every 50 ms: 20 queued connections take about a second to drain.
    const p = startPidone({ args: ["--listen", `127.0.0.1:${port}`, "--", PY, SLOW_SERVER] });
    await p.waitForStdout(/READY/, UP_MS);
    const first = (await p.waitForEvent("spawned")).pid;
    const queued = Array.from({ length: 20 }, () => rawRequest(port));
    await Promise.all(queued.map((q) => q.connected));
    p.signal("SIGUSR1");
    await p.waitForEvent("restart-requested");
    const later = Array.from({ length: 5 }, () => rawRequest(port));
    await Promise.all(later.map((q) => q.connected));
    const { newPid } = await p.waitForEvent("restart", undefined, UP_MS);
    const old = await Promise.all(queued.map((q) => q.result));
    const fresh = await Promise.all(later.map((q) => q.result));
    // Those queued before the restart: gen 1, up to the few it had accepted already; after: gen 2.
    expect(old.filter((r) => (r.body as Answer | undefined)?.pid !== first), p.output()).toEqual([]);
    expect(fresh.filter((r) => (r.body as Answer | undefined)?.pid !== newPid), p.output()).toEqual([]);
    expect(p.all("connections-reset"), p.output()).toEqual([]);
    expect(p.output()).not.toMatch(/"event":"drained"/); // left 0: logged at debug only
    p.signal("SIGTERM");
    expect((await p.waitExit()).code, p.output()).toBe(0);
  }, 60_000);

  it("a connection the old generation accepted but has not read yet is read before it is signalled: no reset (uvicorn's shutdown closes such ones)", async () => {
    const port = await freePort();
    // It reads each request 50 ms after accepting it; on SIGTERM it closes what it has not read.
    const p = startPidone({ args: ["--listen", `127.0.0.1:${port}`, "--", PY, READ_LATE_SERVER] });
    await p.waitForStdout(/READY/, UP_MS);
    const first = (await p.waitForEvent("spawned")).pid;
    const pending = rawRequest(port);
    await pending.connected;
    await p.waitForStdout(/ACCEPTED 1/);
    // Nothing is queued on the old socket now: only the connection's unread request says wait.
    p.signal("SIGUSR1");
    expect(await pending.result, p.output()).toMatchObject({ status: 200, body: { pid: first } });
    await p.waitForEvent("restart", undefined, UP_MS);
    expect(p.output()).not.toMatch(/"event":"drained"/); // nothing left unread: logged at debug only
    await p.waitForStdout(/READY/, UP_MS, 2);
    p.signal("SIGTERM");
    expect((await p.waitExit()).code, p.output()).toBe(0);
  }, 60_000);

  it("a generation that never reads what it accepted holds the restart up for 500 ms at most, with a warning", async () => {
    const port = await freePort();
    const p = startPidone({ args: ["--listen", `127.0.0.1:${port}`, "--", PY, READ_LATE_SERVER], env: { READ_AFTER_MS: "600000" } });
    await p.waitForStdout(/READY/, UP_MS);
    const pending = rawRequest(port);
    await pending.connected;
    await p.waitForStdout(/ACCEPTED 1/);
    p.signal("SIGUSR1");
    const drained = await p.waitForEvent("drained", undefined, UP_MS);
    expect(drained, p.output()).toMatchObject({ level: 40, unread: 1 });
    expect(drained.ms as number).toBeGreaterThanOrEqual(500);
    await p.waitForEvent("restart", undefined, UP_MS);
    // What the app then does with it is the app's: this one closes it unread.
    expect(await pending.result).toMatchObject({ error: "ECONNRESET" });
    await p.waitForStdout(/READY/, UP_MS, 2);
    p.signal("SIGTERM");
    expect((await p.waitExit()).code, p.output()).toBe(0);
  }, 60_000);

  it("a generation that dies mid-drain: the longer queue goes to the next one, the shorter is reset (or migrated), never left hanging", async () => {
    // Where net.ipv4.tcp_migrate_req=1 the kernel moves them to the next generation's socket instead.
    const migrates = readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim() === "1";
    const port = await freePort();
    // It accepts one connection every 100 ms and exits (code 3) after the 6th, mid-drain.
    const p = startPidone({ args: ["--listen", `127.0.0.1:${port}`, "--", PY, SLOW_SERVER], env: { ACCEPT_EVERY_MS: "100", EXIT_AFTER: "6" } });
    await p.waitForStdout(/READY/, UP_MS);
    const queued = Array.from({ length: 20 }, () => rawRequest(port));
    await Promise.all(queued.map((q) => q.connected));
    p.signal("SIGUSR1");
    await p.waitForEvent("restart-requested");
    const later = rawRequest(port); // waits on the next generation's socket, the shorter queue
    await later.connected;
    const { newPid } = await p.waitForEvent("restart", undefined, UP_MS);
    const results = await Promise.all(queued.map((q) => q.result));
    expect(results.filter((r) => r.status === 200).length, p.output()).toBe(20);
    expect(results.slice(-10).every((r) => (r.body as Answer).pid === newPid), p.output()).toBe(true);
    if (migrates) expect(await later.result, p.output()).toMatchObject({ status: 200, body: { pid: newPid } });
    else expect(await later.result, p.output()).toEqual({ error: "ECONNRESET" });
    expect(p.all(migrates ? "connections-migrated" : "connections-reset").map((e) => e.count), p.output()).toEqual([1]);
    p.signal("SIGTERM");
    expect((await p.waitExit()).code, p.output()).toBe(0);
  }, 60_000);
});

describe("--health: probes answered by pidone", () => {
  it("/livez, /readyz (503 during a slow restart), /status, 404/405 for anything else", async () => {
    const [port, hport] = [await freePort(), await freePort()];
    const base = `http://127.0.0.1:${hport}`;
    const p = startPidone({
      args: ["--listen", `127.0.0.1:${port}`, "--health", `127.0.0.1:${hport}`, "--", process.execPath, FD_SERVER],
      env: { STOP_DELAY_MS: "1500" },
    });
    expect((await p.waitForEvent("health-listening")).address).toBe(`127.0.0.1:${hport}`);
    const spawned = await p.waitForEvent("spawned", undefined, UP_MS);
    await p.waitForStdout(/READY/, UP_MS);
    expect(await fetchText(`${base}/livez`)).toEqual({ status: 200, body: "ok\n" });
    expect(await fetchText(`${base}/readyz`)).toEqual({ status: 200, body: "ok\n" });
    const status = JSON.parse((await fetchText(`${base}/status?x=1`)).body) as Record<string, unknown>;
    expect(status).toMatchObject({ state: "running", pid: spawned.pid, generation: 1, restarts: 0, lastExit: null, lastRestartReason: null, supervisorPid: 1 });
    expect(typeof status.uptimeMs).toBe("number");
    expect((await fetchText(`${base}/`)).status).toBe(404);
    expect((await fetchText(`${base}/restart`)).status).toBe(404);
    expect((await fetchText(`${base}/livez`, "POST")).status).toBe(405);

    // The app takes 1.5 s to stop: /readyz says 503 while it does, /livez stays 200.
    p.signal("SIGUSR1");
    await p.waitForEvent("restart-requested");
    // Draining (a few ms: the app takes its queue), then stopping.
    expect(await fetchText(`${base}/readyz`)).toMatchObject({ status: 503, body: expect.stringMatching(/^not ready: (draining|stopping)\n$/) as unknown });
    expect((await fetchText(`${base}/livez`)).status).toBe(200);
    const restart = await p.waitForEvent("restart", undefined, UP_MS);
    await p.waitForStdout(/READY/, UP_MS, 2);
    expect((await fetchText(`${base}/readyz`)).status).toBe(200);
    expect(JSON.parse((await fetchText(`${base}/status`)).body)).toMatchObject({ pid: restart.newPid, generation: 2, restarts: 1, lastExit: "exit 0", lastRestartReason: "signal" });

    // /livez turns 503 only once pidone has given up; during the stop it still answers 200.
    p.signal("SIGTERM");
    await p.waitForEvent("stopping");
    expect((await fetchText(`${base}/livez`)).status).toBe(200);
    expect((await p.waitExit()).code, p.output()).toBe(0);
  }, 60_000);

  it("--ready-http: /readyz follows the app's own health URL", async () => {
    const [port, hport] = [await freePort(), await freePort()];
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-ready-"));
    const flag = path.join(dir, "not-ready");
    writeFileSync(flag, "");
    try {
      const p = startPidone({
        args: ["--listen", `127.0.0.1:${port}`, "--health", `127.0.0.1:${hport}`, "--ready-http", `http://127.0.0.1:${port}/healthz`, "--", process.execPath, FD_SERVER],
        env: { NOT_READY_FILE: flag },
      });
      await p.waitForStdout(/READY/, UP_MS);
      expect(await fetchText(`http://127.0.0.1:${hport}/readyz`)).toEqual({ status: 503, body: `not ready: http://127.0.0.1:${port}/healthz: HTTP 503\n` });
      unlinkSync(flag);
      expect(await fetchText(`http://127.0.0.1:${hport}/readyz`)).toEqual({ status: 200, body: "ok\n" });
      expect((await fetchText(`http://127.0.0.1:${hport}/livez`)).status).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("--ready-tcp: /readyz needs a TCP connect to the port to succeed", async () => {
    const [port, hport] = [await freePort(), await freePort()];
    const p = startPidone({
      args: ["--health", `127.0.0.1:${hport}`, "--ready-tcp", String(port), "--", "sleep", "60"],
    });
    await p.waitForEvent("spawned", undefined, UP_MS);
    expect(await fetchText(`http://127.0.0.1:${hport}/readyz`)).toEqual({ status: 503, body: `not ready: tcp 127.0.0.1:${port}: ECONNREFUSED\n` });
    const s = net.createServer((c) => c.destroy());
    await new Promise<void>((resolve) => s.listen(port, "127.0.0.1", resolve));
    try {
      expect(await fetchText(`http://127.0.0.1:${hport}/readyz`)).toEqual({ status: 200, body: "ok\n" });
    } finally {
      s.close();
    }
  }, 60_000);
});

// --- local helpers ---------------------------------------------------------------------------

/** Force the node exec shim (as in an image without /bin/sh), or leave the default (/bin/sh). */
function shimEnv(shim: "sh" | "node"): Record<string, string> {
  return shim === "node" ? { PIDONE_EXEC_SHIM: "node" } : {};
}

/** A client that sends GET / on a new connection each time, one after the other on each of
 *  `loops` concurrent loops, until stopped or `max` requests; it counts successes and errors by
 *  type. After an error a loop waits 5 ms, so a closed port costs a bounded number of requests. */
class Client {
  sent = 0;
  ok = 0;
  errors: Record<string, number> = {};
  last: Answer | null = null;
  private readonly first = new Map<string, number>();
  private stopped = false;
  private readonly wakers = new Set<() => void>();
  private readonly done: Promise<void>;

  constructor(private readonly port: number, private readonly max: number, loops = 1) {
    this.done = Promise.all(Array.from({ length: loops }, () => this.loop())).then(() => undefined);
  }

  private async loop(): Promise<void> {
    while (!this.stopped && this.sent < this.max) {
      this.sent++;
      try {
        const res = await httpGet(this.port, "/", 15_000);
        if (res.status !== 200) throw Object.assign(new Error(`HTTP ${res.status}`), { code: `HTTP ${res.status}` });
        const a = JSON.parse(res.body) as Answer;
        const at = performance.now();
        this.ok++;
        this.last = a;
        for (const key of [`pid:${a.pid}`, `ppid:${a.ppid}`]) if (!this.first.has(key)) this.first.set(key, at);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        this.errors[code] = (this.errors[code] ?? 0) + 1;
        this.last = null;
        await new Promise((r) => setTimeout(r, 5));
      }
      for (const w of this.wakers) w();
    }
  }

  /** When the first answer whose `field` is `pid` arrived, if one did. */
  firstFrom(field: "pid" | "ppid", pid: number): number | undefined {
    return this.first.get(`${field}:${pid}`);
  }

  /** Resolve with `probe`'s value once it has one (checked after every request); bounded. */
  until<T>(probe: () => T | undefined | false, what: string, p: Pidone, timeoutMs = 30_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = probe();
        if (v === undefined || v === false) return;
        done();
        resolve(v);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (sent ${this.sent}, ok ${this.ok}, errors ${JSON.stringify(this.errors)})\n${p.output()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(check);
      };
      this.wakers.add(check);
      check();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** Latency of `n` sequential requests (new connection each), in ms. */
async function latency(port: number, n: number): Promise<{ median: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await httpGet(port, "/", 5000);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { median: median(times), p99: times[Math.floor(n * 0.99)] as number };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}



/** GET / on a new connection, sent as soon as it connects: `connected` resolves once the kernel
 *  completed the handshake (the connection is queued), `result` with the answer or the error. */
function rawRequest(port: number): { connected: Promise<void>; result: Promise<{ status?: number; body?: unknown; error?: string }> } {
  const c = net.connect(port, "127.0.0.1");
  const connected = new Promise<void>((resolve, reject) => {
    c.once("connect", () => resolve());
    c.once("error", reject);
  });
  const result = new Promise<{ status?: number; body?: unknown; error?: string }>((resolve) => {
    let data = "";
    const timer = setTimeout(() => c.destroy(Object.assign(new Error("timed out"), { code: "TIMEOUT" })), 15_000);
    c.on("connect", () => c.write("GET / HTTP/1.0\r\n\r\n"));
    c.setEncoding("utf8");
    c.on("data", (d: string) => (data += d));
    c.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ error: err.code ?? err.message });
    });
    c.on("end", () => {
      clearTimeout(timer);
      const [head = "", body = ""] = data.split("\r\n\r\n");
      resolve({ status: Number(head.split(" ")[1]), body: body ? JSON.parse(body) as unknown : body });
    });
  });
  return { connected, result };
}

/** Any method on a fresh connection; status and body. */
function fetchText(url: string, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on("error", reject);
    req.end();
  });
}


/** Poll until an answer from the right process satisfies `ok` (see helpers/http.ts). */
function answerFrom(p: Pidone, port: number, ok: (a: Answer) => boolean, what: string, timeoutMs = UP_MS): Promise<Answer> {
  return answerFromPort<Answer>(p, port, ok, what, timeoutMs);
}
