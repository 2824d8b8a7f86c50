#!/usr/bin/env node
// The published package.json carries only the scripts that work inside a user's node_modules
// (`install`); the development scripts (test, bench, build:*) need devDependencies and files that
// are not shipped. npm packs package.json as it is on disk after `prepack`, so:
//   prepack:  node scripts/pack-manifest.js strip     (keeps the original in package.json.dev)
//   postpack: node scripts/pack-manifest.js restore
// A pack that dies between the two leaves package.json.dev; the next strip or restore puts it
// back first, so the development manifest is never lost. Both files are replaced by rename.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");
const manifest = path.join(root, "package.json");
const saved = path.join(root, "package.json.dev");
const PUBLISHED_SCRIPTS = ["install"];

function writeAtomically(file, text) {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

function restore() {
  if (fs.existsSync(saved)) fs.renameSync(saved, manifest);
}

function strip() {
  restore();
  const text = fs.readFileSync(manifest, "utf8");
  const pkg = JSON.parse(text);
  const scripts = Object.fromEntries(PUBLISHED_SCRIPTS.filter((name) => pkg.scripts?.[name]).map((name) => [name, pkg.scripts[name]]));
  const published = { ...pkg, scripts };
  delete published.devDependencies;
  writeAtomically(saved, text);
  writeAtomically(manifest, JSON.stringify(published, null, 2) + "\n");
}

const command = process.argv[2];
if (command === "strip") strip();
else if (command === "restore") restore();
else {
  console.error("usage: pack-manifest.js strip|restore");
  process.exitCode = 2;
}
