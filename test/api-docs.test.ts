// docs/api/ (the API reference, generated from the TSDoc comments by TypeDoc) is current: TypeDoc
// run again into a temporary folder writes the same files, byte for byte. After changing an
// exported declaration or its comment, `npm run docs:api` and commit docs/api/.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const root = path.join(__dirname, "..");

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.set(path.relative(dir, full), fs.readFileSync(full, "utf8"));
    }
  };
  walk(dir);
  return out;
}

test("docs/api is what `npm run docs:api` generates from the current sources", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-api-"));
  try {
    execFileSync(process.execPath, [path.join(root, "node_modules", "typedoc", "bin", "typedoc"), "--out", out, "--logLevel", "Warn", "--treatWarningsAsErrors"], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const generated = files(out);
    const committed = files(path.join(root, "docs", "api"));
    expect([...committed.keys()].sort()).toEqual([...generated.keys()].sort());
    const stale = [...generated].filter(([name, text]) => committed.get(name) !== text).map(([name]) => name);
    expect(stale).toEqual([]); // run `npm run docs:api` and commit docs/api/
    expect(generated.size).toBeGreaterThan(40);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 180_000);
