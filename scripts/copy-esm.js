#!/usr/bin/env node
// tsc builds the CommonJS package into dist/; the ESM entry (lib/index.mjs) re-exports it.
"use strict";
const fs = require("fs");
const path = require("path");
const root = path.join(__dirname, "..");
fs.copyFileSync(path.join(root, "lib", "index.mjs"), path.join(root, "dist", "index.mjs"));
