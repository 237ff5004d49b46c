// Section 8 of `npm run bench` (alone: `npm run bench -- --only preload`): warm restarts of Python apps with
// --preload. For the Flask example and for an app that imports numpy and SQLAlchemy, from SIGUSR1
// to PID 1 until the first HTTP answer from the new generation, with and without --preload, the
// four instances side by side and their trials interleaved.
import path from "node:path";

const PY = "/usr/bin/python3";
const DEADLINE_MS = 30_000;
const SETTLE_MS = 300;
const POLL_MS = 2;

/** The apps, each run cold and with --preload. */
function apps(root) {
  const dir = path.join(root, "examples", "apps");
  return [
    {
      name: "Flask example (`python3 -m flask --app flask_app run`)",
      short: "flask",
      preload: "flask,flask.cli,dotenv,importlib.metadata",
      argv: (port) => [PY, "-m", "flask", "--app", path.join(dir, "flask_app.py"), "run", "--host", "127.0.0.1", "--port", String(port)],
      target: 0.25,
    },
    {
      name: "numpy + SQLAlchemy app (`python3 heavy_app.py`)",
      short: "heavy",
      preload: "numpy,sqlalchemy.orm,http.server",
      argv: () => [PY, path.join(root, "bench", "apps", "heavy_app.py")],
      target: 0.15,
    },
  ];
}

/** Run the section; returns what `preloadReport` prints. `ctx` lends run.mjs's helpers. */
export async function preloadBench(ctx) {
  const { launch, NODE, BUNDLE, trials, log, fail, get, freePort, sleep, nowNs } = ctx;
  const variants = apps(ctx.root).flatMap((app) => [false, true].map((preload) => ({ app, preload, ns: [], key: `${app.short}${preload ? " --preload" : ""}` })));

  const start = async (v) => {
    const port = await freePort();
    const opts = v.preload ? ["--preload", v.app.preload] : [];
    const inst = launch(`pidone ${v.key}`, [NODE, BUNDLE, ...opts, "--", ...v.app.argv(port)], { PORT: String(port) });
    try {
      await inst.event("ready", DEADLINE_MS);
      const deadline = performance.now() + DEADLINE_MS;
      for (;;) {
        try {
          const r = await get(port, 2000);
          if (r.status === 200) return { inst, port, body: r.body };
        } catch {
          // not listening yet
        }
        if (performance.now() > deadline) throw new Error(`no answer on port ${port}\n${inst.output()}`);
        await sleep(20);
      }
    } catch (err) {
      await inst.stop();
      throw err;
    }
  };

  /** One SIGUSR1 restart: ns from the signal to the first 200 whose body (the pid) is new. */
  const restart = async (h) => {
    const t0 = nowNs();
    process.kill(h.inst.pid1, "SIGUSR1");
    const end = t0 + DEADLINE_MS * 1e6;
    for (;;) {
      if (nowNs() > end) throw new Error(`no answer from a new generation within ${DEADLINE_MS} ms\n${h.inst.output()}`);
      if (h.inst.exit) throw new Error(`pidone exited (${JSON.stringify(h.inst.exit)})\n${h.inst.output()}`);
      try {
        const r = await get(h.port, 5000);
        if (r.status === 200 && r.body !== h.body) {
          h.body = r.body;
          return r.endNs - t0;
        }
      } catch {
        // between generations
      }
      await sleep(POLL_MS);
    }
  };

  const live = new Map();
  try {
    for (const v of variants) {
      try {
        live.set(v, await start(v));
      } catch (err) {
        fail(`preload start ${v.key}`, err);
      }
    }
    for (let t = 0; t < trials; t++) {
      if (t % 5 === 0) log(`preload: restart trial ${t + 1}/${trials}`);
      for (const v of variants.map((_, i) => variants[(i + t) % variants.length])) {
        const h = live.get(v);
        if (!h) continue;
        try {
          await sleep(SETTLE_MS);
          v.ns.push(await restart(h));
        } catch (err) {
          fail(`preload restart ${v.key}`, err);
          await h.inst.stop();
          live.delete(v);
        }
      }
    }
    // Every warm figure must come from forks, not from cold fallbacks.
    for (const [v, h] of live) v.cold = h.inst.events.filter((e) => e.event === "preload-cold").length;
  } finally {
    for (const h of live.values()) await h.inst.stop();
  }
  return variants;
}

/** Markdown lines for the section, and the targets for the summary table. */
export function preloadReport(variants, { median, percentile, fmtNs, fmtRatio, table }) {
  const out = [];
  const n = Math.min(...variants.map((v) => v.ns.length));
  out.push(`## 8. Warm restarts of Python apps (\`--preload\`): SIGUSR1 to the first HTTP answer of the new generation (${n} trials each)`, "");
  const rows = [];
  const checks = [];
  for (const app of [...new Set(variants.map((v) => v.app))]) {
    const [cold, warm] = [false, true].map((p) => variants.find((v) => v.app === app && v.preload === p));
    const ratio = median(warm.ns) / median(cold.ns);
    rows.push([app.name, `\`${app.preload}\``, fmtNs(median(cold.ns)), fmtNs(percentile(cold.ns, 99)), fmtNs(median(warm.ns)), fmtNs(percentile(warm.ns, 99)), fmtRatio(ratio), String(warm.cold ?? "n/a")]);
    checks.push([`--preload: ${app.short} restart p50 <= ${app.target * 100}% of cold`, ratio, app.target, fmtRatio]);
  }
  out.push(table(["app", "preloaded", "cold p50", "cold p99", "--preload p50", "--preload p99", "--preload / cold", "cold fallbacks"], rows), "");
  out.push(`From just before SIGUSR1 to PID 1 until the first 200 from the new generation (a new body: its pid), polling with a new connection every ${POLL_MS} ms; ${SETTLE_MS} ms between restarts, the four instances' trials interleaved. Cold: \`pidone -- CMD\`; warm: \`pidone --preload MODULES -- CMD\`, each generation forked from the zygote. Both include the old generation's stop and the app's own start (for Flask, importing the app module and binding the port).`, "");
  return { lines: out, checks };
}
