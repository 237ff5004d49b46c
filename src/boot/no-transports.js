// Stands in for pino's thread-stream in the bundle. pidone never uses pino transports: they run
// in worker threads that esbuild bundles badly, and their buffered lines can be lost when PID 1
// exits. Logging is synchronous to fd 2 instead (src/log.ts). Stubbing saves evaluating it at
// every start.
module.exports = class ThreadStream {
  constructor() {
    throw new Error("pino transports are not available in pidone");
  }
};
