// The core links and passes its own self-test without Node (CMake build of test/native/selftest.cpp).
import { execFileSync } from "child_process";
import * as path from "path";

test("the native self-test builds with CMake and passes", () => {
  const out = execFileSync(process.execPath, [path.join(__dirname, "..", "scripts", "native-selftest.js")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const summary = out.trim().split("\n").pop() ?? "";
  expect(summary).toMatch(/^\d+ passed, 0 failed$/);
  expect(Number(summary.split(" ")[0])).toBeGreaterThanOrEqual(10);
}, 180_000);
