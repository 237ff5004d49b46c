// The health server on a reachable address faces slow and many clients: a connection cap keeps
// pidone's descriptors (which the next spawn needs) bounded, and a per-connection deadline cuts
// clients that trickle their headers, without a timer running while nobody is connected.
import { afterEach, describe, expect, it } from "vitest";
import net from "node:net";
import { cleanupAll, startPidone } from "../helpers/pidone.js";
import { freePort, httpGet } from "../helpers/http.js";
import { fdCount } from "../helpers/control.js";

afterEach(cleanupAll);

describe("--health under slow clients", () => {
  it("100 clients trickling their headers: fds stay bounded by the cap, each is cut by the deadline, then a probe is answered", async () => {
    const port = await freePort();
    const p = startPidone({ args: ["--health", `127.0.0.1:${port}`, "--", "sleep", "120"] });
    await p.waitForEvent("ready");
    expect((await httpGet(port, "/livez", 2000)).status).toBe(200);
    await p.until(() => fdCount(p.pid1) < 100, "fds settle", 2000, 20);
    const baseline = fdCount(p.pid1);

    const N = 100;
    const t0 = performance.now();
    const clients = await Promise.all(Array.from({ length: N }, () => new Promise<{ closedAt: Promise<number>; stop: () => void }>((resolve) => {
      const c = net.connect({ host: "127.0.0.1", port });
      c.on("error", () => {});
      const closedAt = new Promise<number>((r) => c.on("close", () => r(performance.now() - t0)));
      c.once("connect", () => {
        c.write("GET /livez HTTP/1.1\r\nHost: x\r\n");
        // A header line every 300 ms: never idle for long, never a complete request.
        let i = 0;
        const drip = setInterval(() => c.writable && c.write(`X-${i++}: y\r\n`), 300);
        c.once("close", () => clearInterval(drip));
        resolve({ closedAt, stop: () => { clearInterval(drip); c.destroy(); } });
      });
    })));
    try {
      // All connected: pidone holds at most the cap (64) of them; Node closes the rest at once.
      const held = fdCount(p.pid1) - baseline;
      expect(held, `pidone holds ${held} more fds with ${N} slow clients`).toBeLessThanOrEqual(64 + 2);
      const bound = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("slow clients not cut within 15 s")), 15_000));
      const closed = await Promise.race([Promise.all(clients.map((c) => c.closedAt)), bound]);
      const late = closed.filter((ms) => ms > 3000);
      // The ones pidone served were cut by the 5 s deadline (not before ~5 s, not long after).
      expect(late.length, `close times: ${closed.map((x) => Math.round(x)).join(" ")}`).toBeGreaterThanOrEqual(50);
      for (const ms of late) expect(ms).toBeLessThan(12_000);
    } finally {
      for (const c of clients) c.stop();
    }
    expect((await httpGet(port, "/livez", 2000)).status).toBe(200);
    await p.until(() => fdCount(p.pid1) <= baseline, "pidone's fds back to the baseline", 5000, 50);
    expect(p.exit).toBeNull();
  });

  it("a kept-alive connection left idle is closed by the deadline", async () => {
    const port = await freePort();
    const p = startPidone({ args: ["--health", `127.0.0.1:${port}`, "--", "sleep", "120"] });
    await p.waitForEvent("ready");
    const c = net.connect({ host: "127.0.0.1", port });
    let text = "";
    c.on("data", (d) => (text += d));
    const t0 = performance.now();
    const closed = new Promise<number>((r) => c.on("close", () => r(performance.now() - t0)));
    c.write("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n");
    const ms = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 12_000))]);
    c.destroy();
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(ms, "the idle kept-alive connection was never closed").toBeGreaterThan(0);
  });
});
