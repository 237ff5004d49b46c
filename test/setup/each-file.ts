// Runs in each test file's worker before its tests: every process it starts names the file
// (the global teardown reports it when one is left behind).
import { beforeAll } from "vitest";
import path from "node:path";
import { FILE_MARKER } from "../helpers/process.js";

beforeAll((suite) => {
  process.env[FILE_MARKER] = path.relative(process.cwd(), suite.file.filepath);
});
