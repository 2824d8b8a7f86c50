#!/usr/bin/env node
// tsc builds the CommonJS package into dist/; the ESM entries (lib/index.mjs, and
// lib/tfjs/index.mjs for the microadam-native/tfjs subpath) re-export it.
"use strict";
const fs = require("fs");
const path = require("path");
const root = path.join(__dirname, "..");
fs.copyFileSync(path.join(root, "lib", "index.mjs"), path.join(root, "dist", "index.mjs"));
fs.copyFileSync(path.join(root, "lib", "tfjs", "index.mjs"), path.join(root, "dist", "tfjs", "index.mjs"));
fs.copyFileSync(path.join(root, "lib", "distributed", "index.mjs"), path.join(root, "dist", "distributed", "index.mjs"));
