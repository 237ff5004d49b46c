// The rooms of src/ (a folder under src/, or a single top-level file) import each other downward
// only and without a cycle. The import graph is read from the sources with a simple parser (every
// `from "..."`, `import "..."`, `import("...")` and `require("...")` with a relative specifier,
// type-only imports included: a type is a dependency too).
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";

/** The layers, lowest first. A room may import its own layer and the layers below it, never one
 *  above. The lowest layer holds the leaves: rooms that import nothing of src/ (checked too). */
const LAYERS: readonly (readonly string[])[] = [
  ["errors.ts", "lazy-net.ts", "exit-status.ts", "line-splitter.ts", "listen-addr.ts", "ready-signal.ts", "http-status.ts", "boot"],
  ["sys"],
  ["child"],
  ["cli"],
  ["log.ts", "readiness.ts"],
  ["output"],
  ["supervisor"],
  ["sources", "preload", "exit-code.ts"],
  ["control"],
  ["sync"],
  ["preflight.ts"],
  ["supervise", "supervise.ts"],
  ["main.ts"],
];

const SRC = path.resolve(__dirname, "../../src");
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)["']([^"']+)["']/gm;

/** One import: file to file, paths relative to the repository (src/...). */
export interface Edge {
  from: string;
  to: string;
}

/** The room of a path under src/: its first folder, or the file itself at the top. */
export function roomOf(file: string): string {
  const parts = file.replace(/^src\//, "").split("/");
  return parts[0] as string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const abs = path.join(dir, name);
    if (statSync(abs).isDirectory()) return sourceFiles(abs);
    return /\.(ts|js|mjs|cjs)$/.test(name) && !name.endsWith(".d.ts") ? [abs] : [];
  });
}

/** The specifiers a source text imports. */
export function specifiers(text: string): string[] {
  return [...text.matchAll(SPECIFIER)].map((m) => m[1] as string);
}

/** The src/ file a relative specifier names (`./x.js` is `./x.ts` on disk). */
function resolve(fromAbs: string, spec: string): string {
  const base = path.resolve(path.dirname(fromAbs), spec);
  for (const c of [base, base.replace(/\.js$/, ".ts"), `${base}.ts`, path.join(base, "index.ts")]) {
    if (existsSync(c) && statSync(c).isFile()) return c;
  }
  return base;
}

const rel = (abs: string) => path.relative(path.dirname(SRC), abs).split(path.sep).join("/");

/** Every import between files of src/. */
function importGraph(): { files: string[]; edges: Edge[]; text: Map<string, string> } {
  const files = sourceFiles(SRC);
  const text = new Map<string, string>();
  const edges: Edge[] = [];
  for (const abs of files) {
    const t = readFileSync(abs, "utf8");
    text.set(rel(abs), t);
    for (const spec of specifiers(t)) if (spec.startsWith(".")) edges.push({ from: rel(abs), to: rel(resolve(abs, spec)) });
  }
  return { files: files.map(rel), edges, text };
}

const show = (edges: readonly Edge[]) => edges.map((e) => `${e.from} -> ${e.to}`).join("\n");

/** Edges from a room to a room in a higher layer. */
export function upward(edges: readonly Edge[], layers: readonly (readonly string[])[]): Edge[] {
  const level = new Map(layers.flatMap((rooms, i) => rooms.map((r) => [r, i] as const)));
  return edges.filter((e) => (level.get(roomOf(e.from)) ?? -1) < (level.get(roomOf(e.to)) ?? -1));
}

/** The room cycles: each strongly connected set of more than one room, as the file edges
 *  between its rooms. */
export function roomCycles(edges: readonly Edge[]): { rooms: string[]; edges: Edge[] }[] {
  const between = edges.filter((e) => roomOf(e.from) !== roomOf(e.to));
  const next = new Map<string, Set<string>>();
  for (const e of between) {
    const out = next.get(roomOf(e.from)) ?? new Set<string>();
    out.add(roomOf(e.to));
    next.set(roomOf(e.from), out);
  }
  const reaches = (a: string, b: string) => {
    const seen = new Set([a]);
    const stack = [a];
    while (stack.length > 0) {
      for (const n of next.get(stack.pop() as string) ?? []) {
        if (n === b) return true;
        if (!seen.has(n)) {
          seen.add(n);
          stack.push(n);
        }
      }
    }
    return false;
  };
  const rooms = [...new Set(between.flatMap((e) => [roomOf(e.from), roomOf(e.to)]))].sort();
  const done = new Set<string>();
  const out: { rooms: string[]; edges: Edge[] }[] = [];
  for (const r of rooms) {
    if (done.has(r)) continue;
    const scc = rooms.filter((o) => o === r || (reaches(r, o) && reaches(o, r)));
    for (const o of scc) done.add(o);
    if (scc.length > 1) out.push({ rooms: scc, edges: between.filter((e) => scc.includes(roomOf(e.from)) && scc.includes(roomOf(e.to))) });
  }
  return out;
}

describe("the layering of src/", () => {
  const { files, edges, text } = importGraph();

  it("finds the source files and their imports", () => {
    expect(files).toContain("src/main.ts");
    expect(edges.some((e) => e.from === "src/main.ts")).toBe(true);
  });

  it("every room is in LAYERS (a new room gets its place there)", () => {
    const listed = new Set(LAYERS.flat());
    expect([...new Set(files.map(roomOf))].filter((r) => !listed.has(r)).sort()).toEqual([]);
  });

  it("the lowest layer holds only leaves (rooms that import nothing of src/)", () => {
    const leaves = new Set(LAYERS[0]);
    const bad = edges.filter((e) => leaves.has(roomOf(e.from)) && roomOf(e.from) !== roomOf(e.to));
    expect(show(bad), `leaf rooms importing src/:\n${show(bad)}`).toBe("");
  });

  it("no cycle between rooms", () => {
    const cycles = roomCycles(edges).map((c) => `cycle ${c.rooms.join(" <-> ")}:\n${show(c.edges)}`).join("\n");
    expect(cycles, `room cycles:\n${cycles}`).toBe("");
  });

  it("no upward import", () => {
    const bad = show(upward(edges, LAYERS));
    expect(bad, `upward imports (layers, lowest first: ${LAYERS.map((l) => l.join(" ")).join(" | ")}):\n${bad}`).toBe("");
  });

  it("supervisor/machine.ts imports no Node module (a pure transition function)", () => {
    const builtins = new Set(builtinModules);
    const bad = specifiers(text.get("src/supervisor/machine.ts") ?? "").filter((s) => s.startsWith("node:") || builtins.has(s));
    expect(bad).toEqual([]);
  });

  it("only main.ts calls process.exit", () => {
    const bad = [...text].filter(([f, t]) => f !== "src/main.ts" && /\bprocess\.exit\s*\(/.test(t)).map(([f]) => f);
    expect(bad).toEqual([]);
    expect(text.get("src/main.ts")).toMatch(/\bprocess\.exit\s*\(/);
  });
});

describe("the layering check itself", () => {
  const layers = [["leaf.ts"], ["low"], ["high"]];
  const e = (from: string, to: string): Edge => ({ from, to });

  it("reports an upward import as from -> to, and not a downward or same-room one", () => {
    const edges = [e("src/low/a.ts", "src/high/b.ts"), e("src/high/b.ts", "src/low/c.ts"), e("src/low/a.ts", "src/low/c.ts"), e("src/low/c.ts", "src/leaf.ts")];
    expect(show(upward(edges, layers))).toBe("src/low/a.ts -> src/high/b.ts");
  });

  it("reports a cycle between rooms with the edges that make it", () => {
    const edges = [e("src/low/a.ts", "src/high/b.ts"), e("src/high/b.ts", "src/low/c.ts"), e("src/low/c.ts", "src/leaf.ts")];
    expect(roomCycles(edges)).toEqual([{ rooms: ["high", "low"], edges: [edges[0], edges[1]] }]);
    expect(roomCycles([edges[1] as Edge, edges[2] as Edge])).toEqual([]);
  });

  it("parses import, export from, dynamic import and require specifiers", () => {
    const t = `import { a } from "./a.js";\nimport type { B } from '../b.js';\nexport { c } from "./c.js";\nimport "./d.js";\nconst e = await import("./e.js");\nconst f = require("node:fs");`;
    expect(specifiers(t)).toEqual(["./a.js", "../b.js", "./c.js", "./d.js", "./e.js", "node:fs"]);
  });
});
