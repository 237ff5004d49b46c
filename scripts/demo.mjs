// `npm start`: runs pidone over a small HTTP app and shows every restart source working:
// SIGUSR1, the trigger file, a watched file changing, `pidone restart`, and a crash. Then the
// inner loop: `pidone sync` (its local transport: the receiver runs beside pidone) carries a save
// of the app's code, a broken save whose traceback shows in sync's output while pidone stays up
// waiting, and the fix, whose own output shows. Then it keeps running so you can try them
// yourself; Ctrl-C stops it (pidone forwards the SIGINT).
// DEMO_TOUR_ONLY=1 stops after the tour (the test suite runs it that way to keep this true).
import { spawn, execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bundle = path.join(root, "dist/pidone.cjs");
const example = path.join(root, "examples/apps/node_server.js");
const port = Number(process.env.PORT ?? 8080);
const dir = mkdtempSync(path.join(tmpdir(), "pidone-demo-"));
// The app's code as the container has it (REMOTE_DIR) and as you edit it (LOCAL_DIR).
const remote = path.join(dir, "app");
const local = path.join(dir, "src");
mkdirSync(remote);
mkdirSync(local);
const app = path.join(remote, "app.js");
copyFileSync(example, app);
copyFileSync(example, path.join(local, "app.js"));
const socket = path.join(dir, "pidone.sock");
const trigger = path.join(dir, ".restart_trigger");
const watched = path.join(dir, "app-config.json");
writeFileSync(watched, "{}\n");

// As root with unshare, pidone is PID 1 of its own PID namespace, as in a container.
// Otherwise it runs as an ordinary process and makes itself a child subreaper.
let asPid1 = false;
try {
  asPid1 = process.getuid?.() === 0 && !!execFileSync("sh", ["-c", "command -v unshare"]).length;
} catch {
  asPid1 = false;
}
// --change-window 900ms: the tour's crash comes over a second after its last restart (pidone
// restart waits 1 s for the app to stay up), so it is a crash with its backoff, not a broken edit;
// the broken save's syntax error (Node fails at load, in under half a second even on a loaded
// machine) is a broken edit, and pidone waits for the fix.
const pidoneArgs = [bundle, "--watch", watched, "--debounce", "100ms", "--trigger-file", trigger, "--control-socket", socket,
  "--change-window", "900ms", "--log-format", "pretty", "--", process.execPath, app];
const [cmd, ...args] = asPid1 ? ["unshare", "--pid", "--fork", "--mount-proc", process.execPath, ...pidoneArgs] : [process.execPath, ...pidoneArgs];
const env = { ...process.env, PORT: String(port), HOST: "127.0.0.1" };
const child = spawn(cmd, args, { stdio: ["ignore", "inherit", "inherit"], env });
const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? 128)));

// The signal target: pidone itself (PID 1 inside the namespace; a host pid out here).
function pidonePid() {
  if (!asPid1) return child.pid;
  return Number(execFileSync("cat", [`/proc/${child.pid}/task/${child.pid}/children`]).toString().trim().split(" ")[0]);
}

function get() {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", timeout: 500 }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => { try { resolve(JSON.parse(body)); } catch { resolve(null); } });
    });
    req.on("error", () => resolve(null));
    req.on("timeout", () => { req.destroy(); resolve(null); });
  });
}

/** Wait until the app answers from a pid other than `old` (bounded). */
async function answerFrom(notPid, what) {
  const t0 = performance.now();
  while (performance.now() - t0 < 10_000) {
    const r = await get();
    if (r && r.pid !== notPid) return { pid: r.pid, ms: performance.now() - t0 };
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`demo: the app did not come back after ${what}`);
}

const say = (s) => process.stderr.write(`\n\x1b[1m${s}\x1b[0m\n`);

/** `pidone sync LOCAL REMOTE` over a local transport, its output shown as it comes and kept for `saw`. */
function startSync() {
  const sync = spawn(process.execPath, [bundle, "sync", local, remote, "--via", `env PIDONE_CONTROL_SOCKET=${socket}`, "--remote-command", `${process.execPath} ${bundle}`], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const waiters = new Set();
  const feed = (d) => {
    process.stderr.write(d);
    out += d.toString("utf8");
    for (const w of waiters) w();
  };
  sync.stdout.on("data", feed);
  sync.stderr.on("data", feed);
  /** Wait (bounded) until sync's output, from `from` on, matches `re`; returns the end of the match. */
  const saw = (re, what, from = 0) => new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(out.slice(from));
      if (!m) return;
      waiters.delete(check);
      clearTimeout(timer);
      resolve(from + m.index + m[0].length);
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`demo: pidone sync did not show ${what} within 20 s`));
    }, 20_000);
    waiters.add(check);
    check();
  });
  return { sync, saw, at: () => out.length };
}

/** Save `code` as the app in LOCAL_DIR, as an editor does. */
const save = (code) => writeFileSync(path.join(local, "app.js"), code);
const pidoneCli = `node ${path.relative(process.cwd(), bundle) || bundle}`;

try {
  say(`demo: pidone ${asPid1 ? "as PID 1 of a new PID namespace" : "as a subreaper (run as root for a PID namespace)"}, app on http://127.0.0.1:${port}/`);
  let { pid } = await answerFrom(null, "startup");
  const steps = [
    [`kill -USR1 ${pidonePid()}`, () => process.kill(pidonePid(), "SIGUSR1")],
    [`touch ${trigger}`, () => writeFileSync(trigger, "")],
    [`touch ${watched}   (a watched file changes)`, () => utimesSync(watched, new Date(), new Date())],
    [`PIDONE_CONTROL_SOCKET=${socket} ${pidoneCli} restart`, () => execFileSync(process.execPath, [bundle, "restart"], { env: { ...process.env, PIDONE_CONTROL_SOCKET: socket }, stdio: ["ignore", "ignore", "inherit"] })],
  ];
  for (const [shown, act] of steps) {
    say(`demo: $ ${shown}`);
    act();
    const next = await answerFrom(pid, shown);
    say(`demo: restarted in place: app pid ${pid} -> ${next.pid}, answering again after ${next.ms.toFixed(0)} ms`);
    pid = next.pid;
  }
  say("demo: the app crashes (kill -KILL on the app): pidone restarts it after a backoff");
  execFileSync("sh", ["-c", `kill -KILL $(cat /proc/${pidonePid()}/task/${pidonePid()}/children)`]);
  const crashed = await answerFrom(pid, "the crash");
  say(`demo: restarted after the crash: app pid ${pid} -> ${crashed.pid}`);
  pid = crashed.pid;

  say(`demo: the inner loop: $ ${pidoneCli} sync ${local} ${remote} --via 'env PIDONE_CONTROL_SOCKET=${socket}'`);
  const { sync, saw, at } = startSync();
  await saw(/in sync/, "that it is in sync");
  const good = readFileSync(example, "utf8");
  say("demo: save: the app now prints a line when it starts");
  let from = at();
  save(`${good}console.log("hello from the new code");\n`);
  await saw(/│ hello from the new code/, "the new code's print", from);
  pid = (await answerFrom(pid, "the save")).pid;
  say("demo: a broken save: a syntax error");
  from = at();
  save(`${good}this is not javascript\n`);
  from = await saw(/SyntaxError/, "the traceback of the broken save", from);
  const st = execFileSync(process.execPath, [bundle, "status"], { env: { ...process.env, PIDONE_CONTROL_SOCKET: socket } }).toString();
  if (!/^state: +broken/m.test(st)) throw new Error(`demo: pidone status after the broken save:\n${st}`);
  say("demo: pidone stays up, waiting for the next save (pidone status: state broken); the container is fine");
  say("demo: the fix");
  save(`${good}console.log("fixed, and serving");\n`);
  await saw(/│ fixed, and serving/, "the fix's print", from);
  const fixed = await answerFrom(pid, "the fix");
  say(`demo: the fix serves: app pid ${fixed.pid}`);
  sync.kill();

  if (process.env.DEMO_TOUR_ONLY === "1") {
    process.kill(pidonePid(), "SIGTERM");
  } else {
    say([
      "demo: try it yourself (Ctrl-C stops pidone and the app):",
      `  curl http://127.0.0.1:${port}/`,
      `  kill -USR1 ${pidonePid()}`,
      `  touch ${trigger}`,
      `  touch ${watched}`,
      `  PIDONE_CONTROL_SOCKET=${socket} ${pidoneCli} restart`,
      `  PIDONE_CONTROL_SOCKET=${socket} ${pidoneCli} status`,
      `  PIDONE_CONTROL_SOCKET=${socket} ${pidoneCli} logs --follow`,
      `  ${pidoneCli} sync ${local} ${remote} --via 'env PIDONE_CONTROL_SOCKET=${socket}' --remote-command '${process.execPath} ${bundle}'`,
      `     (then edit ${path.join(local, "app.js")})`,
    ].join("\n"));
    process.on("SIGINT", () => process.kill(pidonePid(), "SIGINT"));
  }
} catch (err) {
  process.stderr.write(`${err.message}\n`);
  child.kill("SIGKILL");
  process.exitCode = 1;
}
const code = await exited;
if (process.exitCode === undefined) process.exitCode = code;
if (existsSync(dir)) execFileSync("rm", ["-rf", dir]);
