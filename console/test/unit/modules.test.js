// Every module but main.js and render/ loads in Node, with no page at all: the logic is
// importable and testable without a DOM.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const PURE = fs.readdirSync(ROOT).filter((f) => f.endsWith(".js") && f !== "main.js" && f !== "eslint.config.js");

test("the pure modules load without a DOM", async () => {
  assert.equal(typeof document, "undefined");
  assert.equal(typeof window, "undefined");
  for (const want of ["state.js", "streams.js", "outbox.js", "canned.js", "format.js", "names.js", "lists.js", "api.js", "socket.js", "chat.js", "webhooks.js"]) {
    assert.ok(PURE.includes(want), want);
  }
  for (const f of PURE) {
    const m = await import(pathToFileURL(path.join(ROOT, f)).href);
    assert.ok(Object.keys(m).length > 0, f + " exports something");
  }
});

test("every file of the console says what it owns and what it knows nothing of", () => {
  const files = PURE.concat(["main.js"], fs.readdirSync(path.join(ROOT, "render")).map((f) => "render/" + f));
  for (const f of files) {
    const text = fs.readFileSync(path.join(ROOT, f), "utf8");
    const head = text.slice(0, text.search(/^(import|export|const|let|function)\b/m));
    assert.match(head, /^\/\/ /, f + " starts with a comment");
    assert.match(head, /Owns/, f + ": what it owns");
    assert.match(head, /[Kk]nows nothing/, f + ": what it knows nothing of");
    assert.ok(text.split("\n").length <= 600, f + " is at most 600 lines");
  }
});
