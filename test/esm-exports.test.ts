// lib/index.mjs and lib/tfjs/index.mjs list the package's export names by hand (they re-export
// the CommonJS build, so import and require() share one module instance and one native addon).
// This holds each list to the CommonJS build's runtime exports: a name added to lib/index.ts
// and forgotten in the .mjs file fails here. The built package (npm run build:ts) is tested.
import { execFileSync } from "child_process";
import * as path from "path";

const root = path.join(__dirname, "..");

function run(args: string[]): string[] {
  const out = execFileSync(process.execPath, args, { cwd: root, encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop()!);
}

const entries = [
  ["microadam-native", "dist/index.mjs", "dist/index.js"],
  ["microadam-native/tfjs", "dist/tfjs/index.mjs", "dist/tfjs/index.js"],
] as const;

describe.each(entries)("%s", (specifier, esmFile, cjsFile) => {
  test(`the names ${esmFile} exports are exactly ${cjsFile}'s runtime exports`, () => {
    const esm = run([
      "--input-type=module",
      "-e",
      `import * as m from ${JSON.stringify(specifier)}; console.log(JSON.stringify(Object.keys(m).filter((k) => k !== "default").sort()))`,
    ]);
    const cjs = run(["-e", `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(specifier)})).sort()))`]);
    expect(cjs.length).toBeGreaterThan(3);
    expect(esm).toEqual(cjs);
    // The package's exports map resolves the specifier to these very files.
    expect(run(["-e", `console.log(JSON.stringify([require.resolve(${JSON.stringify(specifier)})]))`])).toEqual([path.join(root, cjsFile)]);
  });

  test(`every export of ${esmFile} is the CommonJS module's own value`, () => {
    const same = run([
      "--input-type=module",
      "-e",
      `import * as m from ${JSON.stringify(specifier)}; import { createRequire } from "module";` +
        `const cjs = createRequire(${JSON.stringify(path.join(root, "package.json"))})(${JSON.stringify(specifier)});` +
        `console.log(JSON.stringify(Object.keys(m).filter((k) => k !== "default" && m[k] !== cjs[k]).concat(m.default === cjs ? [] : ["default"])))`,
    ]);
    expect(same).toEqual([]);
  });
});
