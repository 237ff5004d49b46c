// --listen, --health, --ready-tcp and --ready-http: flags beat PIDONE_* variables, absent options
// stay absent from Config, and bad values are one-line ConfigErrors before anything is bound.
import { describe, expect, it } from "vitest";
import { normalizeConfig, type Config, type RawOptions } from "../../src/cli/config.js";
import { ConfigError } from "../../src/errors.js";
import { parseArgs } from "../../src/cli/program.js";

const normalize = (raw: RawOptions = {}, env: NodeJS.ProcessEnv = {}): Config => normalizeConfig(raw, ["app"], env, "/srv/app");

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain("\n");
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

describe("--listen", () => {
  it("absent by default", () => {
    const c = normalize();
    expect(c.listen).toBeUndefined();
    expect(c.health).toBeUndefined();
    expect(c.readyTcp).toBeUndefined();
    expect(c.readyHttp).toBeUndefined();
    expect("listen" in c).toBe(false);
  });

  it("repeatable flag, in order; PIDONE_LISTEN is comma-separated; the flag wins", () => {
    const env = { PIDONE_LISTEN: "127.0.0.1:9000, unix:/run/a.sock" };
    expect(normalize({}, env).listen?.map((a) => a.text)).toEqual(["127.0.0.1:9000", "unix:/run/a.sock"]);
    expect(normalize({ listen: ["[::]:8000", ":8001"] }, env).listen?.map((a) => a.text)).toEqual(["[::]:8000", "0.0.0.0:8001"]);
    expect(Object.isFrozen(normalize({ listen: [":8000"] }))).toBe(true);
  });

  it("errors name the flag or the variable the value came from", () => {
    expect(configError(() => normalize({ listen: ["example.com:80"] }))).toMatch(/^--listen: invalid address 'example.com:80'/);
    expect(configError(() => normalize({}, { PIDONE_LISTEN: "1.2.3.4" }))).toMatch(/^PIDONE_LISTEN: invalid address '1.2.3.4': no port/);
    expect(configError(() => normalize({ listen: [":8000", "0.0.0.0:8000"] }))).toBe("--listen: 0.0.0.0:8000 is given twice");
  });

  it("commander collects repeated --listen", () => {
    const inv = parseArgs(["--listen", ":8000", "--listen", "unix:/a.sock", "--health", ":9000", "--ready-tcp", "8000", "--ready-http", "http://127.0.0.1:8000/", "--", "app"], "1");
    expect(inv).toMatchObject({ kind: "run", raw: { listen: [":8000", "unix:/a.sock"], health: ":9000", readyTcp: "8000", readyHttp: "http://127.0.0.1:8000/" }, command: ["app"] });
  });
});

describe("--health and readiness checks", () => {
  it("--health from flag or PIDONE_HEALTH; the variable can say off", () => {
    expect(normalize({ health: ":9000" }, { PIDONE_HEALTH: ":9001" }).health?.text).toBe("0.0.0.0:9000");
    expect(normalize({}, { PIDONE_HEALTH: "[::]:9001" }).health?.text).toBe("[::]:9001");
    expect(normalize({}, { PIDONE_HEALTH: "off" }).health).toBeUndefined();
    expect(configError(() => normalize({ health: "nine" }))).toMatch(/^--health: invalid address 'nine'/);
  });

  it("--ready-tcp takes PORT (on 127.0.0.1) or HOST:PORT; --ready-http an http:// URL", () => {
    const c = normalize({ health: ":9000", readyTcp: "8000", readyHttp: "http://127.0.0.1:8000/healthz" });
    expect(c.readyTcp).toMatchObject({ kind: "tcp", host: "127.0.0.1", port: 8000 });
    expect(c.readyHttp).toBe("http://127.0.0.1:8000/healthz");
    const e = normalize({}, { PIDONE_HEALTH: ":9000", PIDONE_READY_TCP: "10.0.0.1:81", PIDONE_READY_HTTP: "http://localhost:8000" });
    expect(e.readyTcp?.text).toBe("10.0.0.1:81");
    expect(e.readyHttp).toBe("http://localhost:8000/");
  });

  it("bad readiness checks; a check without --health is what pidone restart waits for", () => {
    expect(configError(() => normalize({ health: ":9000", readyTcp: "unix:/a" }))).toMatch(/^--ready-tcp: 'unix:\/a' is not a TCP address/);
    expect(configError(() => normalize({ health: ":9000", readyHttp: "https://x/" }))).toMatch(/^--ready-http: invalid URL 'https:\/\/x\/' \(use an http:\/\/ URL/);
    expect(configError(() => normalize({ health: ":9000" }, { PIDONE_READY_HTTP: "nope" }))).toMatch(/^PIDONE_READY_HTTP: invalid URL/);
    // Without --health the check is still taken: `pidone restart` waits for it.
    expect(normalize({ readyTcp: "8000" }).readyTcp?.text).toBe("127.0.0.1:8000");
  });

  it("--overlap --ready-http PATH: a URL on the first --listen address, a wildcard reached on loopback", () => {
    const url = (listen: string[]) => normalize({ listen, overlap: true, readyHttp: "/healthz?deep=1" }).readyHttp;
    expect(url([":8000"])).toBe("http://127.0.0.1:8000/healthz?deep=1");
    expect(url(["[::]:8000"])).toBe("http://127.0.0.1:8000/healthz?deep=1");
    expect(url(["10.1.2.3:8000", ":9000"])).toBe("http://10.1.2.3:8000/healthz?deep=1");
    expect(url(["[::1]:8000"])).toBe("http://[::1]:8000/healthz?deep=1");
  });

  it("--overlap: the ready signal is accept unless --ready-notify or --ready-http names another", () => {
    const overlap = (raw: RawOptions, env: NodeJS.ProcessEnv = {}) => normalize({ listen: [":8000"], overlap: true, ...raw }, env).overlap;
    expect(overlap({})).toEqual({ readySignal: { kind: "accept" }, readyTimeoutMs: 60_000 });
    expect(overlap({ readyTcp: "8000", readyTimeout: "5s" })).toEqual({ readySignal: { kind: "accept" }, readyTimeoutMs: 5000 });
    expect(overlap({ readyNotify: true, readyHttp: "/healthz" })?.readySignal).toEqual({ kind: "notify" });
    expect(overlap({}, { PIDONE_READY_NOTIFY: "1" })?.readySignal).toEqual({ kind: "notify" });
    expect(overlap({ readyHttp: "/healthz?deep=1" })?.readySignal).toEqual({ kind: "http", path: "/healthz?deep=1", host: "127.0.0.1:8000" });
    expect(overlap({ readyHttp: "http://10.0.0.1:81/up" })?.readySignal).toEqual({ kind: "http", path: "/up", host: "10.0.0.1:81" });
    expect(configError(() => normalize({ readyNotify: true }))).toBe("--ready-notify: only with --overlap (PIDONE_OVERLAP=1)");
    expect(configError(() => normalize({ overlap: true, listen: ["unix:/a.sock"] }))).toMatch(/^--overlap: --listen unix:\/a\.sock is a unix socket/);
  });
});
