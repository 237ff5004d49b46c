// The default control socket: a private directory, the same for pidone and its clients.
import { describe, expect, it } from "vitest";
import { controlSocketPath, defaultControlSocket, type DirProbe } from "../../src/cli/control-socket-path.js";

/** A file system where `privates` are private directories of uid 1000 and `writable` are writable. */
const fake = (privates: string[], writable: string[]): DirProbe => ({
  privateDir: (dir, uid) => uid === 1000 && privates.includes(dir),
  writable: (dir) => writable.includes(dir),
});

describe("defaultControlSocket", () => {
  it.each([
    ["XDG_RUNTIME_DIR when it is a private directory of ours", { XDG_RUNTIME_DIR: "/run/user/1000" }, fake(["/run/user/1000"], ["/run"]), "/run/user/1000/pidone.sock"],
    ["not XDG_RUNTIME_DIR when it is not private", { XDG_RUNTIME_DIR: "/run/user/1000" }, fake([], ["/run"]), "/run/pidone/pidone.sock"],
    ["not a relative XDG_RUNTIME_DIR", { XDG_RUNTIME_DIR: "run" }, fake(["run"], []), "/tmp/pidone-1000/pidone.sock"],
    ["not an empty XDG_RUNTIME_DIR", { XDG_RUNTIME_DIR: "" }, fake([""], []), "/tmp/pidone-1000/pidone.sock"],
    ["/run/pidone when /run is writable", {}, fake([], ["/run"]), "/run/pidone/pidone.sock"],
    ["/tmp/pidone-<uid> otherwise", {}, fake([], ["/tmp"]), "/tmp/pidone-1000/pidone.sock"],
  ])("%s", (_what, env, probe, expected) => {
    expect(defaultControlSocket(env, 1000, probe)).toBe(expected);
  });

  it("another uid's private XDG dir is not ours", () => {
    expect(defaultControlSocket({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1001, fake(["/run/user/1000"], []))).toBe("/tmp/pidone-1001/pidone.sock");
  });
});

describe("controlSocketPath (the clients' one resolution)", () => {
  const long = `/tmp/${"x".repeat(120)}.sock`;

  it("--socket first, then PIDONE_CONTROL_SOCKET", () => {
    expect(controlSocketPath("/a.sock", { PIDONE_CONTROL_SOCKET: "/b.sock" })).toBe("/a.sock");
    expect(controlSocketPath(undefined, { PIDONE_CONTROL_SOCKET: "/b.sock" })).toBe("/b.sock");
  });

  it("refuses a path past sockaddr_un's limit, naming where it came from", () => {
    expect(() => controlSocketPath(long, {})).toThrow(/^--socket: socket path .* is longer than 107 bytes$/);
    expect(() => controlSocketPath(undefined, { PIDONE_CONTROL_SOCKET: long })).toThrow(/^PIDONE_CONTROL_SOCKET: /);
  });
});
