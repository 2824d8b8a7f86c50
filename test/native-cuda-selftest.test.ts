// The CUDA engine's native self-test (test/native/cuda_selftest.cpp): built with CMake wherever
// nvcc is, run against the CPU engine bit for bit where a CUDA device is usable. Without a
// device the binary says SKIPPED and this test says so loudly; without nvcc it cannot build.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { backends } from "../lib";

const script = path.join(__dirname, "..", "scripts", "native-selftest.js");
const nvcc = ["/usr/local/cuda/bin/nvcc", ...(process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, "nvcc"))].some(
  (p) => fs.existsSync(p),
);

(nvcc ? test : test.skip)("the CUDA self-test builds with CMake; it equals the CPU engine where a device is usable", () => {
  const out = execFileSync(process.execPath, [script, "cuda"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const last = out.trim().split("\n").pop() ?? "";
  if (backends().cuda.usable) {
    expect(last).toMatch(/^\d+ passed, 0 failed$/);
    expect(Number(last.split(" ")[0])).toBeGreaterThanOrEqual(30);
  } else {
    expect(last).toMatch(/^SKIPPED: no usable CUDA device \(.+\); the CUDA engine was not run$/);
    console.warn(`${last} (test/native/cuda_selftest.cpp compiled and linked; it runs where a device is usable)`);
  }
}, 600_000);

if (!nvcc) console.warn("SKIPPED: no nvcc found: the CUDA self-test was not built");
