// The core links and passes its own self-test without Node (CMake build of test/native/selftest.cpp).
import { execFileSync } from "child_process";
import * as path from "path";

test("the native self-test builds with CMake and passes", () => {
  let out: string;
  try {
    out = execFileSync(process.execPath, [path.join(__dirname, "..", "scripts", "native-selftest.js")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    // execFileSync's message names only the command; the self-test's own lines say which check failed.
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`native self-test failed:\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
  }
  const summary = out.trim().split("\n").pop() ?? "";
  expect(summary).toMatch(/^\d+ passed, 0 failed$/);
  expect(Number(summary.split(" ")[0])).toBeGreaterThanOrEqual(10);
}, 180_000);
