// `npm run test:slow`: the slow checks (test/slow-tests.js) that `npm test` leaves out. CI
// (.ci/run) runs it after `npm test`. Each prints progress on stderr while it runs.
const base = require("./jest.config");
const { SLOW_TESTS } = require("./test/slow-tests");

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: SLOW_TESTS.map((file) => `<rootDir>/test/${file}`),
  testPathIgnorePatterns: ["/node_modules/"],
  testTimeout: 600000,
  // One file at a time: the SIMT files share build/simt, and the sanitizer runs use every core.
  maxWorkers: 1,
};
