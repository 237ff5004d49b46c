// The one HTTP status check, against a server in this process: the status decides, the Host
// header names the URL's host even when the GET goes elsewhere (--overlap's probe), a silent
// server is a timeout, a closed port an errno, and a cancelled check reports nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { checkHttpStatus, statusReady, type HttpAnswer, type HttpVia } from "../../src/http-status.js";

let server: http.Server;
let port = 0;
const seen: { url: string; host: string | undefined; ua: string | undefined; localPort: number | undefined }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? "", host: req.headers.host, ua: req.headers["user-agent"], localPort: req.socket.remotePort });
    if (req.url === "/silent") return; // never answers
    res.writeHead(Number(req.url?.slice(1)) || 200).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** A port free a moment ago (nothing listens there now). */
const freePort = () => new Promise<number>((r) => {
  const s = net.createServer().listen(0, "127.0.0.1", () => {
    const p = (s.address() as AddressInfo).port;
    s.close(() => r(p));
  });
});

const check = (url: string, opts: { timeoutMs?: number; via?: HttpVia } = {}) =>
  new Promise<HttpAnswer>((resolve) => checkHttpStatus(url, { timeoutMs: 5000, ...opts }, resolve));

describe("checkHttpStatus", () => {
  it("reports the status; 2xx and 3xx say ready", async () => {
    expect(await check(`http://127.0.0.1:${port}/204`)).toEqual({ kind: "status", code: 204 });
    expect(await check(`http://127.0.0.1:${port}/503`)).toEqual({ kind: "status", code: 503 });
    expect([200, 204, 302, 399].every(statusReady)).toBe(true);
    expect([0, 101, 199, 400, 404, 503].some(statusReady)).toBe(false);
  });

  it("through `via`: connects there, from the local port asked for, with the URL's host in Host", async () => {
    seen.length = 0;
    const probe = await freePort();
    const answer = await check("http://app.example:8000/200?x=1", { via: { host: "127.0.0.1", port, localPort: probe, localAddress: "127.0.0.1" } });
    expect(answer).toEqual({ kind: "status", code: 200 });
    expect(seen).toEqual([{ url: "/200?x=1", host: "app.example:8000", ua: "pidone-ready", localPort: probe }]);
  });

  it("a server that does not answer is a timeout; a closed port an errno", async () => {
    expect(await check(`http://127.0.0.1:${port}/silent`, { timeoutMs: 100 })).toEqual({ kind: "timeout", ms: 100 });
    const closed = await freePort();
    expect(await check(`http://127.0.0.1:${closed}/`)).toEqual({ kind: "error", code: "ECONNREFUSED" });
  });

  it("a cancelled check reports nothing", async () => {
    seen.length = 0;
    const answers: HttpAnswer[] = [];
    const cancel = checkHttpStatus(`http://127.0.0.1:${port}/silent`, {}, (a) => answers.push(a));
    await expect.poll(() => seen.length, { timeout: 5000 }).toBe(1);
    cancel();
    // Then a check that does answer: had the cancelled one reported, it would be in `answers` by now.
    expect(await check(`http://127.0.0.1:${port}/200`)).toEqual({ kind: "status", code: 200 });
    expect(answers).toEqual([]);
  });
});
