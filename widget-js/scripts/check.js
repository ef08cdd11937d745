// ES3 and size check of what visitors download. Builds the bundle as the server does,
// parses every file and the whole bundle with acorn as ECMAScript 3 with reserved words
// refused even as property names (what IE8 needs), and measures the gzip size against
// the budget. Exits non-zero on any failure.
"use strict";

const zlib = require("zlib");
const acorn = require("acorn");
const { readBundle } = require("./bundle");

// 15 KiB until the widget learned to ask a router and follow moves to another node
// (+0.65 KiB gzip).
const BUDGET = 16 * 1024;
const OPTS = { ecmaVersion: 3, allowReserved: "never", sourceType: "script", locations: true };

function parse(name, text) {
  try {
    acorn.parse(text, OPTS);
    return null;
  } catch (e) {
    return `${name}: ${e.message}`;
  }
}

function main() {
  const { files, text } = readBundle();
  const errors = [];
  for (const f of files) {
    const err = parse(f.name, f.text);
    if (err) errors.push(err);
  }
  const whole = parse("bundle", text);
  if (whole) errors.push(whole);
  // Non-ASCII in the source would depend on the charset the host page gives the script.
  files.forEach((f) => {
    const i = f.text.search(/[^\x00-\x7f]/);
    if (i >= 0) errors.push(`${f.name}: non-ASCII character at offset ${i} (use \\u escapes)`);
  });
  const raw = Buffer.byteLength(text);
  const gz = zlib.gzipSync(text, { level: 6 }).length;
  const gz9 = zlib.gzipSync(text, { level: 9 }).length;
  console.log(`widget.js: ${files.length} files, ${raw} bytes, gzip ${gz} bytes (level 9: ${gz9}); budget ${BUDGET} bytes gzip`);
  if (gz > BUDGET) errors.push(`gzip size ${gz} is over the budget of ${BUDGET} bytes`);
  if (errors.length) {
    for (const e of errors) console.error(`FAIL ${e}`);
    process.exit(1);
  }
  console.log("ES3 parse (acorn ecmaVersion 3, allowReserved never): ok");
}

main();
