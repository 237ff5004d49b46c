// The exec shim's command line: /bin/sh where it exists and can do the job (LISTEN_PID only),
// the node shim with the flags for what it must do otherwise.
import { describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { execShim } from "../../src/child/exec-shim.js";

describe("execShim", () => {
  it.runIf(existsSync("/bin/sh"))("--listen alone: /bin/sh sets LISTEN_PID", () => {
    expect(execShim({}).slice(0, 2)).toEqual(["/bin/sh", "-c"]);
  });

  it("PIDONE_EXEC_SHIM=node: the node shim, setting LISTEN_PID", () => {
    expect(execShim({ PIDONE_EXEC_SHIM: "node" }).slice(-3)).toEqual(["__exec-shim", "--listen-pid", "--"]);
  });

  it("a terminal always takes the node shim (sh cannot call tcsetpgrp), with LISTEN_PID only for --listen", () => {
    expect(execShim({}, { listenPid: false, terminal: true }).slice(-3)).toEqual(["__exec-shim", "--terminal", "--"]);
    expect(execShim({}, { listenPid: true, terminal: true }).slice(-4)).toEqual(["__exec-shim", "--listen-pid", "--terminal", "--"]);
    expect(execShim({}, { listenPid: false, terminal: true })[0]).toBe(process.execPath);
  });
});
