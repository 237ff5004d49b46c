// The control socket as a trust boundary: whatever a client sends, it gets one line and pidone
// (PID 1) and the app carry on; the socket never replaces what it did not make; a default socket
// lives in a private directory; another uid is refused even where the file mode would let it in.
import { afterEach, describe, expect, it } from "vitest";
import {
  chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BUNDLE, FIXTURES, cleanupAll, run, runPidone, startPidone, type Pidone } from "../helpers/pidone.js";
import { exchange, oneLine, rssBytes } from "../helpers/control.js";
import { readable } from "../helpers/readable.js";

afterEach(cleanupAll);
const S = path.join(FIXTURES, "signals.py");
const MB = 1024 * 1024;

async function started(args: string[] = [], env: Record<string, string | undefined> = {}): Promise<Pidone> {
  const p = startPidone({ args: [...args, "--", S], env });
  await p.waitForStdout(/app READY/);
  await p.waitForEvent("ready");
  return p;
}

const status = async (p: Pidone, socket = p.socket) => oneLine(await exchange(socket, ['{"cmd":"status"}\n']));

/** A restart's outcome without a readiness check: the new generation stayed up through the settle window. */
const up = (ev: Record<string, unknown>) => ({ kind: "up", pid: ev.newPid, generation: 2, oldPid: ev.oldPid, ms: expect.any(Number), upMs: expect.any(Number) });

/** pidone and the app are as they were: same app pid, no restart, pidone running and answering. */
async function unharmed(p: Pidone, pid: number) {
  const st = await status(p);
  expect(st, p.output()).toMatchObject({ ok: true, status: { state: "running", pid, generation: 1, restarts: 0 } });
  expect(p.exit).toBeNull();
  expect(p.all("internal-error")).toEqual([]);
}

describe("bad requests get a one-line error; pidone and the app carry on", () => {
  it("`null`, a number, an unknown command, bad fields, an empty line", async () => {
    const p = await started();
    const pid = ((await status(p)).status as { pid: number }).pid;
    const cases: [string, string][] = [
      ["null\n", "malformed request: expected a JSON object, got null"],
      ["42\n", "malformed request: expected a JSON object, got number"],
      ['{"cmd":"reboot"}\n', "unknown command 'reboot' (use restart, status or logs)"],
      ['{"cmd":"restart","timeoutMs":"soon"}\n', "field 'timeoutMs' must be a whole number of milliseconds from 1 to 3600000"],
      ["\n", 'empty request (send one JSON object, e.g. {"cmd":"status"})'],
      ["{\n", 'malformed request: not JSON (send one JSON object per line, e.g. {"cmd":"status"})'],
    ];
    for (const [input, error] of cases) {
      const x = await exchange(p.socket, [input]);
      expect(x.closed, `${input}: ${JSON.stringify(x)}`).toBe(true);
      expect(oneLine(x), input).toEqual({ ok: false, error });
    }
    await unharmed(p, pid);
  });

  it("a 16 MB line without a newline: an error answer, the connection closed, pidone's memory bounded", async () => {
    const p = await started();
    const pid = ((await status(p)).status as { pid: number }).pid;
    const before = rssBytes(p.pid1);
    // 256 writes of 64 KiB: pidone reads as it arrives, so the line is over the bound long before the end.
    const chunk = Buffer.alloc(64 * 1024, "a");
    const x = await exchange(p.socket, Array.from({ length: 256 }, () => chunk), { timeoutMs: 10_000 });
    expect(x.closed, JSON.stringify({ ...x, answer: x.answer.slice(0, 200) })).toBe(true);
    expect(oneLine(x)).toEqual({ ok: false, error: "request too long (the limit is 65536 bytes per line)" });
    const after = rssBytes(p.pid1);
    // Before the fix the line was buffered whole and rescanned: +100 MB and more.
    expect(after - before, `RSS ${before} -> ${after}`).toBeLessThan(20 * MB);
    await unharmed(p, pid);
  });

  it("a client that sends its request and shuts down its write side still gets the answer", async () => {
    const p = await started();
    for (const request of ['{"cmd":"status"}\n', '{"cmd":"status"}']) {
      const x = await exchange(p.socket, [request], { end: true });
      expect(x.closed).toBe(true);
      expect(oneLine(x), request).toMatchObject({ ok: true, status: { state: "running", generation: 1 } });
    }
    // Half-closed during a restart, which answers only once the new app runs.
    const x = await exchange(p.socket, ['{"cmd":"restart","timeoutMs":10000}\n'], { end: true, timeoutMs: 12_000 });
    const ev = await p.waitForEvent("restart");
    expect(oneLine(x)).toEqual({ ok: true, pid: ev.newPid, generation: 2, ms: expect.any(Number), outcome: up(ev) });
  });

  it("a restart request without timeoutMs takes the default and restarts", async () => {
    const p = await started();
    const x = await exchange(p.socket, ['{"cmd":"restart"}\n'], { timeoutMs: 12_000 });
    const ev = await p.waitForEvent("restart");
    expect(ev.source).toBe("control");
    expect(oneLine(x)).toEqual({ ok: true, pid: ev.newPid, generation: 2, ms: expect.any(Number), outcome: up(ev) });
  });

  it("a client that trickles its request is cut at the total deadline, not kept alive byte by byte", async () => {
    const p = await started();
    const c = await import("node:net").then((net) => net.connect(p.socket));
    const closed = new Promise<number>((resolve) => c.on("close", () => resolve(performance.now())));
    c.on("error", () => {});
    const t0 = performance.now();
    // One byte every 200 ms: never idle for long, never a whole line.
    const drip = setInterval(() => c.writable && c.write("{"), 200);
    const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 9000))]);
    clearInterval(drip);
    c.destroy();
    expect(at, "the trickling client was never cut").toBeGreaterThan(0);
    expect(at - t0).toBeGreaterThan(4000);
    expect((await status(p)).ok).toBe(true);
  });
});

describe("clients wait their turn while the socket is busy", () => {
  it("300 idle connections take every slot: pidone status, restart and logs retry until one frees, and succeed", async () => {
    const p = await started();
    const net = await import("node:net");
    const idle: import("node:net").Socket[] = [];
    try {
      // Connections that send nothing: pidone holds 64 until the request deadline (5 s) and
      // answers the rest "busy".
      await Promise.all(Array.from({ length: 300 }, () => new Promise<void>((resolve) => {
        const c = net.connect(p.socket);
        idle.push(c);
        c.on("error", () => resolve());
        c.on("connect", () => resolve());
      })));
      const busy = await exchange(p.socket, ['{"cmd":"status"}\n']);
      // Busy is a "busy" answer, or, once the listen backlog is full too, a connect refused with
      // EAGAIN or a connection closed unserved: the clients treat them alike (client.ts once()).
      const isBusy = /^\{"ok":false,"error":"busy: /.test(busy.answer)
        || (busy.answer === "" && busy.closed && (busy.error === undefined || ["EAGAIN", "ECONNRESET", "EPIPE"].includes(busy.error)));
      expect(isBusy, `the socket was not busy: the test would prove nothing (${JSON.stringify(busy)})`).toBe(true);
      const env = { PIDONE_CONTROL_SOCKET: p.socket };
      const [st, re, logs] = await Promise.all([
        run(process.execPath, [BUNDLE, "status"], { env, timeoutMs: 20_000 }),
        run(process.execPath, [BUNDLE, "restart", "--settle", "0"], { env, timeoutMs: 30_000 }),
        run(process.execPath, [BUNDLE, "logs"], { env, timeoutMs: 20_000 }),
      ]);
      expect(logs.code, logs.stderr).toBe(0);
      expect(st.code, st.stderr).toBe(0);
      expect(st.stdout).toMatch(/^state: +(running|stopping|starting)/m);
      expect(re.code, re.stderr).toBe(0);
      expect(re.stdout.trim()).toMatch(/^\d+$/);
    } finally {
      for (const c of idle) c.destroy();
    }
  }, 40_000);
});

describe("the socket path: only a provably dead socket is ever removed", () => {
  it("--control-socket naming a regular file: exit 2, one line, the file untouched", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-ctl-"));
    try {
      writeFileSync(path.join(dir, "app.py"), "print('hi')\n");
      const { exit, p } = await runPidone({ args: ["--control-socket", "./app.py", "--", "sh", "-c", "echo SPAWNED"], cwd: dir });
      expect(exit.code, p.output()).toBe(2);
      expect(p.stderr.trim().split("\n")).toEqual([
        `pidone: --control-socket: ${path.join(dir, "app.py")} exists and is a regular file, not a socket; pidone removes only a dead socket of its own (remove it, or choose another path)`,
      ]);
      expect(p.stdout.toString()).not.toContain("SPAWNED");
      expect(readFileSync(path.join(dir, "app.py"), "utf8")).toBe("print('hi')\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--control-socket naming a symlink (even to a dead socket): exit 2, the link and its target untouched", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-ctl-"));
    try {
      const target = path.join(dir, "target.sock");
      await deadSocket(target);
      symlinkSync(target, path.join(dir, "ctl.sock"));
      const { exit, p } = await runPidone({ args: ["--control-socket", path.join(dir, "ctl.sock"), "--", "true"] });
      expect(exit.code, p.output()).toBe(2);
      expect(p.stderr.trim()).toBe(`pidone: --control-socket: ${path.join(dir, "ctl.sock")} exists and is a symbolic link, not a socket; pidone removes only a dead socket of its own (remove it, or choose another path)`);
      expect(readlinkSync(path.join(dir, "ctl.sock"))).toBe(target);
      expect(lstatSync(target).isSocket()).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a stale socket (nobody listening) is removed and replaced", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-ctl-"));
    try {
      await deadSocket(path.join(dir, "pidone.sock"));
      const p = startPidone({ args: ["--", S], cwd: dir });
      expect(p.socket).toBe(path.join(dir, "pidone.sock"));
      await p.waitForEvent("ready");
      expect(p.all("control-stale-socket-removed").map((e) => e.path)).toEqual([p.socket]);
      expect((await status(p)).ok).toBe(true);
    } finally {
      await cleanupAll();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a control socket path over 107 bytes: pidone and its clients (restart, status, receive) exit 2 with one line, no socket file anywhere", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-ctl-"));
    try {
      const long = path.join(dir, "s".repeat(120 - dir.length));
      const { exit, p } = await runPidone({ args: ["--control-socket", long, "--", "sh", "-c", "echo SPAWNED"], cwd: dir });
      expect(exit.code, p.output()).toBe(2);
      expect(p.stderr.trim()).toBe(`pidone: --control-socket: socket path ${long} is longer than 107 bytes`);
      expect(p.stdout.toString()).not.toContain("SPAWNED");
      const clients = [
        [["status", "--socket", long], "--socket"], [["restart"], "PIDONE_CONTROL_SOCKET"],
        [["receive", dir, "--socket", long], "--socket"], [["receive", dir], "PIDONE_CONTROL_SOCKET"],
      ] as const;
      for (const [args, from] of clients) {
        const r = await run(process.execPath, [BUNDLE, ...args], { env: { PIDONE_CONTROL_SOCKET: long } });
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr.trim()).toBe(`pidone: ${from}: socket path ${long} is longer than 107 bytes`);
      }
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a live socket is left alone: exit 2", async () => {
    const first = await started();
    const { exit, p } = await runPidone({ args: ["--", "true"], env: { PIDONE_CONTROL_SOCKET: first.socket } });
    expect(exit.code, p.output()).toBe(2);
    expect(p.stderr.trim()).toBe(`pidone: --control-socket: another process is already listening on ${first.socket}`);
    expect((await status(first)).ok).toBe(true);
  });

  it("a default socket path with a regular file in the way: a warning, no control socket, the file untouched", async () => {
    const xdg = mkdtempSync(path.join(tmpdir(), "pidone-xdg-"));
    try {
      writeFileSync(path.join(xdg, "pidone.sock"), "keep me");
      const p = startPidone({ args: ["--", S], env: { PIDONE_CONTROL_SOCKET: undefined, XDG_RUNTIME_DIR: xdg } });
      const ready = await p.waitForEvent("ready");
      expect(ready.controlSocket).toBeNull();
      const warn = p.all("control-socket-disabled")[0];
      expect(warn?.path, p.output()).toBe(path.join(xdg, "pidone.sock"));
      expect(String(warn?.reason)).toContain("is a regular file, not a socket");
      expect(readFileSync(path.join(xdg, "pidone.sock"), "utf8")).toBe("keep me");
    } finally {
      rmSync(xdg, { recursive: true, force: true });
    }
  });
});

describe("the default socket lives in a directory only pidone's user can use", () => {
  it("$XDG_RUNTIME_DIR/pidone.sock when that is a private directory; `pidone status` finds it", async () => {
    const xdg = mkdtempSync(path.join(tmpdir(), "pidone-xdg-"));
    try {
      const env = { PIDONE_CONTROL_SOCKET: undefined, XDG_RUNTIME_DIR: xdg };
      const p = await started([], env);
      expect((await p.waitForEvent("ready")).controlSocket).toBe(path.join(xdg, "pidone.sock"));
      const { PIDONE_CONTROL_SOCKET: _drop, ...hostEnv } = process.env;
      const r = await run(process.execPath, [BUNDLE, "status", "--json"], { env: { ...hostEnv, XDG_RUNTIME_DIR: xdg } as Record<string, string> });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ state: "running", supervisorPid: 1 });
    } finally {
      rmSync(xdg, { recursive: true, force: true });
    }
  });

  describe("as an unprivileged user (uid 65534): /tmp/pidone-65534, created 0700, refused if not ours", () => {
    const dir = "/tmp/pidone-65534";
    const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    // No XDG_RUNTIME_DIR and /run not writable for uid 65534: the /tmp fallback.
    const env = { PIDONE_CONTROL_SOCKET: undefined, XDG_RUNTIME_DIR: undefined, HOME: "/" };
    const clean = () => rmSync(dir, { recursive: true, force: true });
    afterEach(clean);

    it("creates the directory 0700 and serves `pidone status` there", async () => {
      clean();
      const cwd = mkdtempSync(path.join(tmpdir(), "pidone-nobody-"));
      chmodSync(cwd, 0o777);
      try {
        const p = startPidone({ args: ["--", readable(S)], env, wrap: asNobody, cwd });
        const ready = await p.waitForEvent("ready");
        expect(ready.controlSocket, p.output()).toBe(`${dir}/pidone.sock`);
        const st = statSync(dir);
        expect([st.uid, st.mode & 0o777]).toEqual([65534, 0o700]);
        // The client computes the same default for the same uid.
        const r = await run(asNobody[0] as string, [...asNobody.slice(1), readable(process.execPath), readable(BUNDLE), "status", "--json"], { env: { XDG_RUNTIME_DIR: "" }, cwd: "/" });
        expect(r.stderr).toBe("");
        expect(JSON.parse(r.stdout)).toMatchObject({ state: "running" });
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    });

    it.each([
      ["a symlink to a directory of ours", () => {
        mkdirSync(`${dir}-real`, { mode: 0o700 });
        chmodSync(`${dir}-real`, 0o700);
        symlinkSync(`${dir}-real`, dir);
      }, "is not a directory (a symbolic link)"],
      ["a directory of another user", () => mkdirSync(dir, { mode: 0o700 }), "belongs to uid 0, not to pidone's uid 65534"],
      ["a directory others may enter", () => {
        mkdirSync(dir);
        chmodSync(dir, 0o755);
        chownSync(dir, 65534, 65534);
      }, "has mode 0755, but only its owner may use it"],
    ])("%s: a warning and no control socket", async (_what, make, reason) => {
      clean();
      rmSync(`${dir}-real`, { recursive: true, force: true });
      make();
      const cwd = mkdtempSync(path.join(tmpdir(), "pidone-nobody-"));
      chmodSync(cwd, 0o777);
      try {
        const p = startPidone({ args: ["--", readable(S)], env, wrap: asNobody, cwd });
        const ready = await p.waitForEvent("ready");
        expect(ready.controlSocket, p.output()).toBeNull();
        expect(String(p.all("control-socket-disabled")[0]?.reason), p.output()).toContain(reason);
        expect(existsSync(`${dir}/pidone.sock`)).toBe(false);
      } finally {
        rmSync(cwd, { recursive: true, force: true });
        rmSync(`${dir}-real`, { recursive: true, force: true });
      }
    });
  });
});

describe("SO_PEERCRED", () => {
  it("a client of another uid is refused even when the socket's mode lets it connect; pidone's uid and root are served", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-peer-"));
    try {
      chmodSync(dir, 0o777);
      const socket = path.join(dir, "ctl.sock");
      const p = await started(["--control-socket", socket]);
      // For this test only: let anyone connect, so what refuses uid 65534 is the uid check.
      chmodSync(socket, 0o666);
      const py = `import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ns.sendall(b'{"cmd":"restart","timeoutMs":5000}\\n')\nprint(s.makefile().readline(), end="")`;
      const r = await run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", py, socket]);
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({ ok: false, error: "permission denied: uid 65534 is neither pidone's user (uid 0) nor root" });
      expect(p.all("restart-requested")).toEqual([]);
      expect(p.all("control-refused")).toEqual([]); // logged at debug only: no log spam from strangers
      expect((await status(p, socket)).ok).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Leave a socket file at `file` that nobody listens on (python does not unlink on exit). */
async function deadSocket(file: string): Promise<void> {
  const r = await run("python3", ["-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", file]);
  if (r.code !== 0 || !lstatSync(file).isSocket()) throw new Error(`could not make a dead socket: ${r.stderr}`);
}
