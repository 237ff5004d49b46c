// `npm start`: runs pidone over a small HTTP app and shows every restart source working:
// SIGUSR1, the trigger file, a watched file changing, `pidone restart`, and a crash. Then it
// keeps running so you can try them yourself; Ctrl-C stops it (pidone forwards the SIGINT).
// DEMO_TOUR_ONLY=1 stops after the tour (the test suite runs it that way to keep this true).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, utimesSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bundle = path.join(root, "dist/pidone.cjs");
const app = path.join(root, "examples/apps/node_server.js");
const port = Number(process.env.PORT ?? 8080);
const dir = mkdtempSync(path.join(tmpdir(), "pidone-demo-"));
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
// --change-window 500ms: the tour's crash comes over a second after its last restart (pidone
// restart waits 1 s for the app to stay up), so it is a crash with its backoff, not a broken edit.
const pidoneArgs = [bundle, "--watch", watched, "--debounce", "100ms", "--trigger-file", trigger, "--control-socket", socket,
  "--change-window", "500ms", "--log-format", "pretty", "--", process.execPath, app];
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
