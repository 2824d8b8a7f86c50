// `npm test`: every test file but the slow checks listed in test/slow-tests.js, which
// `npm run test:slow` (jest.slow.config.js) runs; CI (.ci/run) runs both.
const { SLOW_TESTS } = require("./test/slow-tests");

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/", ...SLOW_TESTS.map((file) => `/test/${file.replace(/\./g, "\\.")}$`)],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
  moduleFileExtensions: ["ts", "js", "json", "node"],
  testTimeout: 120000,
  // Jest's default on a 2-core machine is one worker; most files wait on child processes (ts-node,
  // npm, fsync) for part of their time, so two overlap well.
  maxWorkers: 2,
};
