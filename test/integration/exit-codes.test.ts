import { afterEach, describe, expect, it } from "vitest";
import { chmodSync, writeFileSync } from "node:fs";
import path from "node:path";
import { cleanupAll, runPidone } from "../helpers/pidone.js";

afterEach(cleanupAll);

describe("exit status", () => {
  for (const code of [0, 3, 255]) {
    it(`exits ${code} when the app exits ${code}`, async () => {
      const { exit, p } = await runPidone({ args: ["--restart", "never", "--", "sh", "-c", `exit ${code}`] });
      expect(exit.code, p.output()).toBe(code);
    });
  }

  it("exits 128+9 when the app is killed by SIGKILL", async () => {
    const { exit, p } = await runPidone({ args: ["--restart", "never", "--", "sh", "-c", "kill -9 $$"] });
    expect(exit.code, p.output()).toBe(137);
  });

  it("exits 127 with one line naming a command that does not exist", async () => {
    const { exit, p } = await runPidone({ args: ["--", "/no/such/command", "x"] });
    expect(exit.code).toBe(127);
    const line = p.stderr.split("\n").find((l) => l.includes("spawn-failed"));
    expect(line, p.output()).toContain("/no/such/command: command not found");
  });

  it("exits 126 with one line naming a command that is not executable", async () => {
    const { exit, p } = await runPidone({ args: ["--", "./data.txt"], cwd: undefined, env: {} }).then(async () => {
      // run again with a real non-executable file in a known directory
      const dir = path.join(require("node:os").tmpdir(), `pidone-noexec-${process.pid}`);
      require("node:fs").mkdirSync(dir, { recursive: true });
      const file = path.join(dir, "app");
      writeFileSync(file, "#!/bin/sh\necho hi\n");
      chmodSync(file, 0o644);
      return runPidone({ args: ["--", file], cwd: dir });
    });
    expect(exit.code, p.output()).toBe(126);
    expect(p.stderr).toContain("permission denied");
  });
});
