// The self-contained directory (scripts/standalone.mjs), run as the overlay runs it: node through
// the bundled loader with the bundled libraries. Everything that re-runs node must re-run that
// whole invocation: process.execPath is the loader there. The engine test (test/engine/install.test.ts)
// plays it in a pod; this one checks the directory and the --listen exec shim without an engine.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, cleanupAll, run, startPidone } from "../helpers/pidone.js";

afterEach(cleanupAll);

let out = "";
let dir = "";
const loaderCommand = () => {
  const lib = path.join(dir, "lib");
  const loader = readdirSync(lib).find((f) => /^ld-linux.*\.so/.test(f)) as string;
  return { node: path.join(lib, loader), nodeArgs: ["--library-path", lib, path.join(dir, "node")], bundle: path.join(dir, "pidone.cjs") };
};

beforeAll(async () => {
  out = mkdtempSync(path.join(tmpdir(), "pidone-standalone-"));
  dir = path.join(out, "pidone");
  const res = await run(process.execPath, [path.join(ROOT, "scripts/standalone.mjs"), dir], { timeoutMs: 60_000 });
  expect(res.code, res.stderr).toBe(0);
});

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

describe("the standalone directory", () => {
  it("holds node, the bundle, koffi, the libraries with their loader, and bin/pidone", () => {
    for (const f of ["node", "pidone.cjs", "bin/pidone", "koffi/linux_x64/koffi.node", "lib/libstdc++.so.6", "lib/libc.so.6", "lib/ld-linux-x86-64.so.2", "lib/ld.so"]) {
      expect(existsSync(path.join(dir, f)), f).toBe(true);
    }
  });

  it("the --listen node exec shim re-runs node through the loader: the app gets LISTEN_PID and its socket", async () => {
    const p = startPidone({
      ...loaderCommand(),
      args: ["--listen", `unix:${path.join(out, "app.sock")}`, "--restart", "never", "--", "/usr/bin/env"],
      // The node shim, not /bin/sh: what an image without a shell gets.
      env: { PIDONE_EXEC_SHIM: "node" },
    });
    const spawned = await p.waitForEvent("spawned");
    await p.waitForStdout(/LISTEN_FDS=1\n/);
    await p.waitForStdout(new RegExp(`LISTEN_PID=${spawned.pid}\\n`));
    // The app does not inherit the bundled library path.
    expect(p.stdout.toString()).not.toMatch(/LD_LIBRARY_PATH/);
    const exit = await p.waitExit();
    expect(exit.code, p.output()).toBe(0);
  });
});
