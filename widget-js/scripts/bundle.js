// The widget bundle exactly as the server builds it (build.rs): the files named in
// bundle.txt (trimmed lines; blank lines and lines starting with "#" skipped), read as
// UTF-8 and joined with "\n".
"use strict";

const fs = require("fs");
const path = require("path");

const ROOT = path.join(__dirname, "..");

function bundleFiles(root = ROOT) {
  const list = fs.readFileSync(path.join(root, "bundle.txt"), "utf8");
  return list
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
}

function readBundle(root = ROOT) {
  const files = bundleFiles(root).map((name) => ({
    name,
    text: fs.readFileSync(path.join(root, name), "utf8"),
  }));
  return { files, text: files.map((f) => f.text).join("\n") };
}

module.exports = { ROOT, bundleFiles, readBundle };
