// The app is started through libuv's process handle (src/sys/process-wrap.ts) where Node lets
// pidone take it quietly, and through child_process where it does not (--pending-deprecation
// would print DEP0111 on the app's stderr). Both ways must behave the same: exit codes, signals,
// spawn failures, restarts, the descriptors --listen hands over; and neither prints a warning.
import { afterEach, describe, expect, it } from "vitest";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { cleanupAll, runPidone, startPidone } from "../helpers/pidone.js";

afterEach(cleanupAll);

const paths = [
  { api: "process_wrap", nodeArgs: [] as string[], env: {} },
  { api: "child_process", nodeArgs: ["--pending-deprecation"], env: {} },
  { api: "child_process", nodeArgs: ["--pending_deprecation"], env: {} },
  { api: "child_process", nodeArgs: [] as string[], env: { NODE_PENDING_DEPRECATION: "1" } },
];

describe.each(paths)("the app started through $api ($nodeArgs $env)", ({ api, nodeArgs, env }) => {
  const debug = ["--log-level", "debug"];
  const noWarning = (stderr: string) => expect(stderr).not.toMatch(/DeprecationWarning|DEP0111|process\.binding/);

  it("exit codes: the app's own, 128+signal, 127 and 126 for what cannot run", async () => {
    const three = await runPidone({ args: [...debug, "--restart", "never", "--", "sh", "-c", "exit 3"], nodeArgs, env });
    expect(three.exit.code, three.p.output()).toBe(3);
    const spawned = three.p.all("spawn-api")[0];
    expect(spawned?.api).toBe(api);
    // What the fast path is for: nothing before the spawn loads node:net (nor what else is slow
    // to load); through child_process it, net and tty are there.
    if (api === "process_wrap") expect(spawned?.loadedBySpawn).toEqual([]);
    else expect(spawned?.loadedBySpawn).toEqual(expect.arrayContaining(["net", "child_process", "tty"]));
    noWarning(three.p.stderr);
    const killed = await runPidone({ args: ["--restart", "never", "--", "sh", "-c", "kill -9 $$"], nodeArgs, env });
    expect(killed.exit.code, killed.p.output()).toBe(137);
    const missing = await runPidone({ args: ["--", "/no/such/command"], nodeArgs, env });
    expect(missing.exit.code, missing.p.output()).toBe(127);
    expect(missing.p.all("spawn-failed")[0]?.message).toBe("/no/such/command: command not found");
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-spawnpath-"));
    writeFileSync(path.join(dir, "app"), "#!/bin/sh\necho hi\n");
    chmodSync(path.join(dir, "app"), 0o644);
    const noexec = await runPidone({ args: ["--", path.join(dir, "app")], cwd: dir, nodeArgs, env });
    expect(noexec.exit.code, noexec.p.output()).toBe(126);
    noWarning(noexec.p.stderr);
  });

  it("restarts by signal; the app has its own session and group, pidone's environment and argv as given", async () => {
    const p = startPidone({ args: ["--", "sh", "-c", 'echo "app $$ $(cut -d" " -f6 /proc/$$/stat) $(cut -d" " -f5 /proc/$$/stat) [$PIDONE_PATH_PROBE] $0 [$1]"; exec sleep 1000', "arg0", "two words"], nodeArgs, env: { ...env, PIDONE_PATH_PROBE: "x=y z" } });
    const [first] = await p.waitForStdout(/app (\d+) (\d+) (\d+) \[x=y z\] arg0 \[two words\]/);
    const [, pid, sid, pgid] = first as RegExpMatchArray;
    expect(sid).toBe(pid);
    expect(pgid).toBe(pid);
    p.signal("SIGUSR1");
    const r = await p.waitForEvent("restart", (e) => e.source === "signal");
    expect(r).toMatchObject({ oldStatus: "signal SIGTERM" });
    await p.waitForStdout(new RegExp(`app ${r.newPid} `));
    noWarning(p.stderr);
  });

  it("--listen: the socket reaches the app as fd 3 through the exec shim", async () => {
    const p = startPidone({ args: ["--listen", "unix:app.sock", "--", "sh", "-c", 'test -e /proc/self/fd/3 && echo "fd3 $LISTEN_FDS $LISTEN_PID $$"; exec sleep 1000'], nodeArgs, env });
    const [m] = await p.waitForStdout(/fd3 1 (\d+) (\d+)/);
    const [, listenPid, self] = m as RegExpMatchArray;
    expect(listenPid).toBe(self);
    noWarning(p.stderr);
  });
});
