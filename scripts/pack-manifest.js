#!/usr/bin/env node
// What npm publishes differs from the checkout in two files, swapped in by `prepack` and put back
// by `postpack` (npm packs the files as they are on disk after prepack):
//   - package.json carries only the scripts that work inside a user's node_modules (`install`);
//     the development scripts (test, bench, build:*) need devDependencies and unshipped files;
//   - README.md's relative links (docs/...) become links to the same files of this version of
//     the published package on unpkg: npmjs.com shows the README without the repository's files,
//     so a relative link there is a 404, while every docs/ file ships in the tarball.
//
//   prepack:  node scripts/pack-manifest.js strip     (keeps the originals in .pack-originals/)
//   postpack: node scripts/pack-manifest.js restore
// The originals live in a dot-folder because npm packs every README* file at the root, whatever
// `files` says. A pack that dies between the two leaves them there (run `restore`); the next strip
// or restore puts them back first, so the development files are never lost. Files are replaced by
// rename.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");
const PUBLISHED_SCRIPTS = ["install"];
const originals = path.join(root, ".pack-originals");

function writeAtomically(file, text) {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

function publishedManifest(text) {
  const pkg = JSON.parse(text);
  const scripts = Object.fromEntries(PUBLISHED_SCRIPTS.filter((name) => pkg.scripts?.[name]).map((name) => [name, pkg.scripts[name]]));
  const published = { ...pkg, scripts };
  delete published.devDependencies;
  return JSON.stringify(published, null, 2) + "\n";
}

/** Markdown links to shipped files (docs/..., LICENSE) made absolute on unpkg for this version. */
function publishedReadme(text, pkg) {
  const base = `https://unpkg.com/${pkg.name}@${pkg.version}/`;
  return text.replace(/\]\(((?:docs\/|LICENSE)[^)\s]*)\)/g, (_, target) => `](${base}${target})`);
}

const FILES = [
  ["package.json", (text) => publishedManifest(text)],
  ["README.md", (text) => publishedReadme(text, JSON.parse(fs.readFileSync(path.join(originals, "package.json"), "utf8")))],
];

function restore() {
  for (const [name] of FILES) {
    const saved = path.join(originals, name);
    if (fs.existsSync(saved)) fs.renameSync(saved, path.join(root, name));
  }
  fs.rmSync(originals, { recursive: true, force: true });
}

function strip() {
  restore();
  fs.mkdirSync(originals);
  for (const [name, publish] of FILES) {
    const file = path.join(root, name);
    if (!fs.existsSync(file)) continue;
    const text = fs.readFileSync(file, "utf8");
    writeAtomically(path.join(originals, name), text);
    writeAtomically(file, publish(text));
  }
}

module.exports = { publishedReadme };

if (require.main === module) {
  const command = process.argv[2];
  if (command === "strip") strip();
  else if (command === "restore") restore();
  else {
    console.error("usage: pack-manifest.js strip|restore");
    process.exitCode = 2;
  }
}
