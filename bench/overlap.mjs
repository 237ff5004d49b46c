// Benchmark section 7, --overlap: a slow-booting app (test/fixtures/slow-boot-server.py, 1.5 s of
// "imports") restarted under a client loop that makes a new connection per request, with and
// without --overlap, interleaved. Reports the longest request during a restart, failed
// requests, and restart request to the first answer from the new code. Runs on its own
// (`node bench/overlap.mjs`, after `npm run build`) or from bench/run.mjs.
import { spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./lib/net.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const SERVER = path.join(root, "test/fixtures/slow-boot-server.py");
const VARIANTS = ["with --overlap", "without"];

function get(port, timeoutMs) {
  return new Promise((resolve) => {
    const t = performance.now();
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ ok: res.statusCode === 200, body: body.trim(), ms: performance.now() - t, at: t }));
      // An answer cut off by a generation that stopped mid-body: a failed request, not a hang.
      res.on("close", () => resolve({ ok: false, body: "closed before the end of the answer", ms: performance.now() - t, at: t }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err) => resolve({ ok: false, body: err.code ?? err.message, ms: performance.now() - t, at: t }));
  });
}

/** One pidone over the slow-boot app; resolves once it serves. */
async function startApp(bundle, variant) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), "pidone-bench-overlap-"));
  const code = path.join(dir, "code");
  writeFileSync(code, "v0");
  const env = { ...process.env, CODE_FILE: code, BOOT_S: "1.5", PIDONE_LOG_FORMAT: "json", PIDONE_CONTROL_SOCKET: path.join(dir, "s.sock") };
  delete env.NODE_OPTIONS;
  delete env.NODE_EXTRA_CA_CERTS;
  const args = ["--listen", `127.0.0.1:${port}`, ...(variant === "with --overlap" ? ["--overlap"] : []), "--", SERVER];
  const child = spawn("unshare", ["--pid", "--fork", "--mount-proc", process.execPath, bundle, ...args], { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const deadline = performance.now() + 20_000;
  for (;;) {
    const r = await get(port, 1000);
    if (r.ok) break;
    if (performance.now() > deadline) throw new Error(`${variant}: the app did not answer within 20 s\n${stderr}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  return {
    port,
    socket: env.PIDONE_CONTROL_SOCKET,
    edit: (c) => writeFileSync(code, c),
    restarts: () => stderr.split("\n").filter((l) => l.includes('"event":"restart"')).length,
    stop: async () => {
      // unshare does not forward signals: stop its child, pidone, which is PID 1 in there.
      const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "latin1").trim().split(/\s+/).filter(Boolean);
      for (const k of kids) process.kill(Number(k), "SIGTERM");
      await new Promise((res) => child.once("exit", res));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `trials` restarts of each variant, interleaved; the numbers per variant. */
export async function overlapBench(bundle, trials) {
  const out = Object.fromEntries(VARIANTS.map((v) => [v, { longest: [], failed: 0, requests: 0, toNewMs: [] }]));
  const apps = Object.fromEntries(await Promise.all(VARIANTS.map(async (v) => [v, await startApp(bundle, v)])));
  try {
    for (let i = 1; i <= trials; i++) {
      for (const v of VARIANTS) {
        const app = apps[v];
        const r = out[v];
        const before = app.restarts();
        app.edit(`v${i}`);
        const t0 = performance.now();
        // The control socket's protocol directly: no client process start in the figure.
        const c = net.connect(app.socket, () => c.end(`${JSON.stringify({ cmd: "restart", timeoutMs: 30_000 })}\n`));
        c.on("error", () => {});
        c.resume();
        // The client loop runs until the new code answered and the restart is logged.
        let longest = 0;
        let seenNew = null;
        while (seenNew === null || app.restarts() === before) {
          const res = await get(app.port, 15_000);
          r.requests++;
          if (!res.ok) r.failed++;
          longest = Math.max(longest, res.ms);
          if (res.ok && res.body.endsWith(` v${i}`) && seenNew === null) seenNew = res.at + res.ms - t0;
          if (performance.now() - t0 > 30_000) break;
        }
        r.longest.push(longest);
        if (seenNew !== null) r.toNewMs.push(seenNew);
        await new Promise((res) => setTimeout(res, 300));
      }
    }
  } finally {
    await Promise.all(Object.values(apps).map((a) => a.stop()));
  }
  return out;
}

/** The section's markdown. */
export function overlapTable(out, fmtMs, pct) {
  const rows = VARIANTS.map((v) => {
    const r = out[v];
    return `| ${v} | ${fmtMs(Math.max(0, ...r.longest))} | ${fmtMs(pct(r.longest, 50))} | ${r.failed} of ${r.requests} | ${fmtMs(pct(r.toNewMs, 50))} / ${fmtMs(pct(r.toNewMs, 95))} |`;
  });
  return [
    "| slow-boot app (1.5 s), a new connection per request | longest request during a restart, max | median of the per-restart longest | failed requests | restart request to the new code's first answer, p50 / p95 |",
    "|---|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const trials = Number(process.env.BENCH_OVERLAP_TRIALS ?? (process.env.BENCH_QUICK === "1" ? 3 : 10));
  const out = await overlapBench(path.join(root, "dist/pidone.cjs"), trials);
  const pct = (xs, p) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  };
  process.stdout.write(`${overlapTable(out, (ms) => (Number.isFinite(ms) ? `${ms.toFixed(0)} ms` : "-"), pct)}\n`);
}
