// Example plain Node HTTP server for pidone (no dependencies).
//   GET /        -> {"server", "pid", "ppid", "started"}: which process answered and when it started.
//   GET /healthz -> "ok", for probes.
// On SIGTERM it stops accepting connections, closes idle ones and exits 0.
// Run:  PORT=8000 node node_server.js
"use strict";
const http = require("node:http");

const started = Date.now() / 1000;
const port = Number(process.env.PORT ?? 8000);
const host = process.env.HOST ?? "0.0.0.0";

const server = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    return;
  }
  const body = JSON.stringify({ server: "node", pid: process.pid, ppid: process.ppid, started });
  res.writeHead(200, { "content-type": "application/json" }).end(body);
});

process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});

server.listen(port, host, () => console.log(`listening on ${host}:${port} (pid ${process.pid})`));
