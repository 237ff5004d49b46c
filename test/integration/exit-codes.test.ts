// pidone exits with the app's status (code, or 128+signal), and 127/126 for commands it cannot run.
import { afterEach, describe, expect, it } from "vitest";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { cleanupAll, runPidone } from "../helpers/pidone.js";

afterEach(cleanupAll);

describe("exit status", () => {
  for (const code of [0, 3, 255]) {
    it(`exits ${code} when the app exits ${code}`, async () => {
      const { exit, p } = await runPidone({ args: ["--restart", "never", "--", "sh", "-c", `exit ${code}`] });
      expect(exit.code, p.output()).toBe(code);
      expect(p.all("exit")[0]?.code).toBe(code);
    });
  }

  it("exits 128+9 when the app is killed by SIGKILL", async () => {
    const { exit, p } = await runPidone({ args: ["--restart", "never", "--", "sh", "-c", "kill -9 $$"] });
    expect(exit.code, p.output()).toBe(137);
  });

  it("exits 127 with one line naming a command that does not exist", async () => {
    const { exit, p } = await runPidone({ args: ["--", "/no/such/command", "x"] });
    expect(exit.code, p.output()).toBe(127);
    expect(p.all("spawn-failed")[0]?.message).toBe("/no/such/command: command not found");
  });

  it("exits 126 with one line naming a command that is not executable", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-noexec-"));
    const file = path.join(dir, "app");
    writeFileSync(file, "#!/bin/sh\necho hi\n");
    chmodSync(file, 0o644);
    const { exit, p } = await runPidone({ args: ["--", file], cwd: dir });
    expect(exit.code, p.output()).toBe(126);
    expect(p.all("spawn-failed")[0]?.message).toBe(`${file}: permission denied (not executable, or a directory)`);
  });
});
