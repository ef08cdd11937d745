// Records the names a JSONP callback must never start with: every property of a real
// browser's global object. Opens about:blank in headless Chromium (through
// playwright-core, as the browser tests do) and collects the own property names of window
// and of each object on its prototype chain (Window.prototype, WindowProperties,
// EventTarget.prototype, Object.prototype), sorted and deduplicated, into
// fixtures/browser-globals.txt (or the path given as the first argument). The server
// embeds that file (src/transport/jsonp.rs); legacy IE globals are kept by hand in
// fixtures/legacy-globals.txt. Run: node scripts/record-globals.js
"use strict";

const fs = require("fs");
const path = require("path");
const { launch } = require("../test/support/browser");

const OUT = process.argv[2] || path.join(__dirname, "..", "..", "fixtures", "browser-globals.txt");

async function main() {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto("about:blank");
    const found = await page.evaluate(() => {
      const names = [];
      const chain = [];
      for (let o = window; o; o = Object.getPrototypeOf(o)) {
        const own = Object.prototype.hasOwnProperty.call(o, "constructor") && o.constructor.prototype === o;
        chain.push(o === window ? "window" : own ? o.constructor.name + ".prototype" : Object.prototype.toString.call(o).slice(8, -1));
        for (const n of Object.getOwnPropertyNames(o)) names.push(n);
      }
      return { names, chain };
    });
    // Names the automation itself may have added are not the browser's.
    const names = [...new Set(found.names)].filter((n) => !/^__pw|^__playwright/.test(n)).sort();
    if (names.includes("kefu")) throw new Error("a browser global named kefu: the widget's callbacks would be refused");
    const header = [
      "# Browser globals: a JSONP callback whose first segment is one of these is refused",
      "# (src/transport/jsonp.rs, docs/protocol.md section 6.2). One name per line; lines",
      "# starting with # are comments.",
      `# Made by widget-js/scripts/record-globals.js from headless Chromium ${browser.version()}`,
      "# on about:blank: Object.getOwnPropertyNames of each object on the global's prototype",
      `# chain (${found.chain.join(", ")}),`,
      "# sorted, deduplicated.",
      `# ${names.length} names. Legacy IE globals are in legacy-globals.txt.`,
    ];
    fs.writeFileSync(OUT, header.concat(names).join("\n") + "\n");
    console.log(`${OUT}: ${names.length} names from Chromium ${browser.version()}`);
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
