// --listen/--health addresses are parsed purely, before anything is bound: every accepted form,
// every refusal as a one-line ConfigError, and the sockaddr bytes the kernel will get.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { parseListenAddress } from "../../src/cli/listen-address.js";
import { describeBindError, fdName, loopbackHost, type ListenAddress, type TcpAddress } from "../../src/listen-addr.js";
import { sockaddr } from "../../src/sys/sockets.js";

const parse = (text: string) => parseListenAddress(text, "--listen", "/srv/app");

describe("parseListenAddress: accepted forms", () => {
  const rows: [string, ListenAddress][] = [
    ["tcp://127.0.0.1:8000", { kind: "tcp", family: 4, host: "127.0.0.1", port: 8000, text: "127.0.0.1:8000" }],
    ["TCP://0.0.0.0:80", { kind: "tcp", family: 4, host: "0.0.0.0", port: 80, text: "0.0.0.0:80" }],
    ["10.1.2.3:65535", { kind: "tcp", family: 4, host: "10.1.2.3", port: 65535, text: "10.1.2.3:65535" }],
    ["localhost:8000", { kind: "tcp", family: 4, host: "127.0.0.1", port: 8000, text: "127.0.0.1:8000" }],
    [":8000", { kind: "tcp", family: 4, host: "0.0.0.0", port: 8000, text: "0.0.0.0:8000" }],
    ["*:8000", { kind: "tcp", family: 4, host: "0.0.0.0", port: 8000, text: "0.0.0.0:8000" }],
    ["8000", { kind: "tcp", family: 4, host: "0.0.0.0", port: 8000, text: "0.0.0.0:8000" }],
    [" [::]:8000 ", { kind: "tcp", family: 6, host: "::", port: 8000, text: "[::]:8000" }],
    ["tcp://[::1]:1", { kind: "tcp", family: 6, host: "::1", port: 1, text: "[::1]:1" }],
    ["[fe80::1:2]:9000", { kind: "tcp", family: 6, host: "fe80::1:2", port: 9000, text: "[fe80::1:2]:9000" }],
    ["unix:/run/app.sock", { kind: "unix", path: "/run/app.sock", text: "unix:/run/app.sock" }],
    ["unix:///run/app.sock", { kind: "unix", path: "/run/app.sock", text: "unix:/run/app.sock" }],
    ["unix:app.sock", { kind: "unix", path: "/srv/app/app.sock", text: "unix:/srv/app/app.sock" }],
  ];
  for (const [text, want] of rows) it(text, () => expect(parse(text)).toEqual(want));

  it("a default host for bare ports (--ready-tcp uses 127.0.0.1)", () => {
    expect(parseListenAddress("9000", "--ready-tcp", "/", "127.0.0.1")).toMatchObject({ host: "127.0.0.1", port: 9000 });
  });
});

describe("parseListenAddress: refusals name the option and the value", () => {
  const rows: [string, RegExp][] = [
    ["", /empty/],
    ["8000x", /no port|not a number/],
    ["127.0.0.1", /no port/],
    ["127.0.0.1:", /port '' is not a number/],
    ["127.0.0.1:http", /port 'http' is not a number/],
    ["127.0.0.1:0", /out of range/],
    ["127.0.0.1:65536", /out of range/],
    ["example.com:80", /not an IP address; give an IP literal/],
    ["256.1.1.1:80", /not an IP address/],
    ["::1:8000", /put an IPv6 address in brackets/],
    ["[::1]8000", /must be followed by :PORT/],
    ["[zz::1]:80", /not an IPv6 address/],
    ["http://127.0.0.1:80", /unsupported scheme 'http:\/\/'/],
    ["unix:", /no path/],
    [`unix:/${"x".repeat(120)}`, /longer than 107 bytes/],
  ];
  for (const [text, re] of rows) {
    it(JSON.stringify(text), () => {
      let err: unknown;
      try {
        parse(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const msg = (err as Error).message;
      expect(msg).toMatch(re);
      expect(msg.startsWith(`--listen: invalid address '${text}'`)).toBe(true);
      expect(msg).not.toContain("\n");
    });
  }
});

describe("fdName and describeBindError", () => {
  it("LISTEN_FDNAMES entries never contain ':'", () => {
    expect(fdName(parse("[::]:8000"))).toBe("tcp-8000");
    expect(fdName(parse("unix:/run/a:b.sock"))).toBe("unix-a_b.sock");
  });

  it("one line per errno, naming the option and the address", () => {
    const a = parse("0.0.0.0:80");
    expect(describeBindError("EADDRINUSE", a, "--listen")).toBe("--listen 0.0.0.0:80: address already in use (another process listens on port 80)");
    expect(describeBindError("EACCES", a, "--listen")).toMatch(/^--listen 0\.0\.0\.0:80: permission denied \(ports below 1024 need root or CAP_NET_BIND_SERVICE/);
    expect(describeBindError("EADDRNOTAVAIL", parse("10.9.9.9:8000"), "--health")).toBe("--health 10.9.9.9:8000: address not available (no network interface has 10.9.9.9)");
    expect(describeBindError("ENOENT", parse("unix:/nope/x.sock"), "--listen")).toBe("--listen unix:/nope/x.sock: directory /nope does not exist");
    expect(describeBindError("EWHATEVER", a, "--listen")).toBe("--listen 0.0.0.0:80: cannot listen (EWHATEVER)");
  });
});

describe("loopbackHost: where pidone reaches an address it listens on", () => {
  const host = (t: string) => loopbackHost(parse(t) as TcpAddress);
  it("a wildcard, IPv4 or IPv6 (which takes IPv4 too), is reached on 127.0.0.1", () => {
    expect(host(":8000")).toBe("127.0.0.1");
    expect(host("[::]:8000")).toBe("127.0.0.1");
  });
  it("any other host as it is", () => {
    expect(host("10.1.2.3:8000")).toBe("10.1.2.3");
    expect(host("[::1]:8000")).toBe("::1");
    expect(host("[fe80::1:2]:8000")).toBe("fe80::1:2");
  });
});

describe("sockaddr: the bytes bind() gets", () => {
  it("sockaddr_in: family (host order), port (network order), address", () => {
    expect(sockaddr(parse("127.0.0.1:8080")).toString("hex")).toBe("02001f907f0000010000000000000000");
  });
  it("sockaddr_in6: ::, ::1, a full address and an embedded IPv4 one", () => {
    const addr = (t: string) => sockaddr(parse(t)).subarray(8, 24).toString("hex");
    expect(sockaddr(parse("[::]:8080")).length).toBe(28);
    expect(sockaddr(parse("[::]:8080")).subarray(0, 4).toString("hex")).toBe("0a001f90");
    expect(addr("[::]:1")).toBe("0".repeat(32));
    expect(addr("[::1]:1")).toBe(`${"0".repeat(31)}1`);
    expect(addr("[2001:db8:0:0:1:0:0:1]:1")).toBe("20010db8000000000001000000000001");
    expect(addr("[fe80::1:2]:1")).toBe("fe800000000000000000000000010002");
    expect(addr("[::ffff:10.0.0.1]:1")).toBe("00000000000000000000ffff0a000001");
  });
  it("sockaddr_un: family, then the NUL-terminated path", () => {
    const b = sockaddr(parse("unix:/run/a.sock"));
    expect(b.length).toBe(110);
    expect(b.readUInt16LE(0)).toBe(1);
    expect(b.subarray(2, 2 + "/run/a.sock".length + 1).toString("latin1")).toBe("/run/a.sock\0");
  });
});
