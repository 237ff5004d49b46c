// The HTTP app of bench section 6 (zero-downtime restarts). GET / answers its own pid, with
// "connection: close". It listens on fd 3 when LISTEN_FDS is set (the socket pidone's --listen
// hands over), else on 127.0.0.1:PORT. Once listening it prints "L <pid> <CLOCK_MONOTONIC ns>"
// (the stamp format of bench/lib/instance.mjs). On SIGTERM it stops accepting, closes idle
// connections and exits 0.
"use strict";
const http = require("node:http");

const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/plain", connection: "close" }).end(`${process.pid}\n`);
});

process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});

const where = process.env.LISTEN_FDS ? { fd: 3 } : { port: Number(process.env.PORT), host: "127.0.0.1" };
server.listen(where, () => process.stdout.write(`L ${process.pid} ${process.hrtime.bigint()}\n`));
