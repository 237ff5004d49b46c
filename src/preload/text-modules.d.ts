// The zygote's Python source is bundled as a string (esbuild's text loader, scripts/build.mjs).
declare module "*.py" {
  const source: string;
  export default source;
}
