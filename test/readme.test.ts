// The README's code: the quick start runs as pasted (extracted into a file inside the package,
// which imports "microadam-native" by its name as an application does, run with node as an ES
// module), and the "Use" snippet type-checks and runs with ts-node (wrapped in an async function
// for its await).
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";

const root = path.join(__dirname, "..");
const tsNode = path.join(root, "node_modules", ".bin", "ts-node");
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");

/** The first ```ts (or ```js) block of the section `heading`. */
function codeOf(heading: string, language = "ts"): string {
  const start = readme.indexOf(`\n## ${heading}\n`);
  expect(start).toBeGreaterThanOrEqual(0);
  const section = readme.slice(start + 1).split(/\n## /)[0];
  const match = new RegExp("```" + language + "\\n([\\s\\S]*?)```").exec(section);
  expect(match).not.toBeNull();
  return match![1];
}

/** Runs `source` as the file `name` (.ts: with ts-node; .mjs: with node). */
function runFile(name: string, source: string): Promise<{ code: number; stdout: string; stderr: string }> {
  // Inside the package (under test/), so that "microadam-native" resolves to this package itself.
  const dir = fs.mkdtempSync(path.join(__dirname, ".readme-"));
  const file = path.join(dir, name);
  fs.writeFileSync(file, source);
  return new Promise((resolve) =>
    execFile(name.endsWith(".ts") ? tsNode : process.execPath, [file], { cwd: root, timeout: 120_000 }, (error, stdout, stderr) => {
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr });
    }),
  );
}

test("the quick start runs as pasted with node and its loss falls", async () => {
  const run = await runFile("quickstart.mjs", codeOf("Quick start", "js"));
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  const losses = [...run.stdout.matchAll(/^step (\d+): loss ([\d.]+), state 3944 bytes$/gm)].map((m) => [Number(m[1]), Number(m[2])]);
  expect(losses.map(([step]) => step)).toEqual([1, 50, 100, 150, 200]);
  expect(losses[4][1]).toBeLessThan(losses[0][1] / 3);
}, 150_000);

test("the Use snippet type-checks and runs", async () => {
  const code = codeOf("Use");
  const imports = code.split("\n").filter((line) => line.startsWith("import "));
  const body = code.split("\n").filter((line) => !line.startsWith("import "));
  expect(imports.length).toBeGreaterThan(0);
  const run = await runFile("use.ts", `${imports.join("\n")}\n(async () => {\n${body.join("\n")}\nconsole.log("done");\n})();\n`);
  expect(run.stderr).toBe("");
  expect(run.stdout.trim()).toBe("done");
  expect(run.code).toBe(0);
}, 150_000);
