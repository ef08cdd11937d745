"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { load } = require("../support/env");

const { ns } = load();
const BASE = "http://127.0.0.1:8080";
const CB_ROOM = "&cb=kefu._j.c99999".length;

function decodeParts(urls) {
  return urls.map((u) => new URL(u)).map((u) => ({
    pid: u.searchParams.get("pid"), i: +u.searchParams.get("i"), n: +u.searchParams.get("n"), d: u.searchParams.get("d"),
  }));
}

test("a short frame travels whole in f=", () => {
  const urls = ns.jsonpUrls(BASE, "ch1", { t: "msg", cid: "c1", body: "hi" });
  assert.equal(urls.length, 1);
  const u = new URL(urls[0]);
  assert.equal(u.pathname, "/v1/jsonp/send");
  assert.equal(u.searchParams.get("chan"), "ch1");
  assert.deepEqual(JSON.parse(u.searchParams.get("f")), { t: "msg", cid: "c1", body: "hi" });
});

test("long frames are split into parts keyed by cid; every URL stays under 2 KB", () => {
  const bodies = [
    "a".repeat(4000),
    "\u5ba2\u670d".repeat(2000), // 3 bytes per character, 9 once percent-encoded
    "\ud83d\ude00".repeat(1000) + "x", // astral characters: 4 bytes, two UTF-16 units
    "\"quotes\" & <tags> %25 \\ ".repeat(120),
  ];
  for (const body of bodies) {
    const frame = { t: "msg", cid: "cABC123", body };
    const urls = ns.jsonpUrls(BASE, "chan42", frame);
    assert.ok(urls.length > 1, "split");
    for (const u of urls) assert.ok(u.length + CB_ROOM <= 2000, "URL length " + (u.length + CB_ROOM));
    const parts = decodeParts(urls);
    parts.forEach((p, i) => {
      assert.equal(p.pid, "cABC123");
      assert.equal(p.i, i);
      assert.equal(p.n, urls.length);
    });
    assert.deepEqual(JSON.parse(parts.map((p) => p.d).join("")), frame, "the parts join to the frame");
  }
});

test("splitting never cuts a character in two", () => {
  const text = "\ud83d\ude00\u00e9a".repeat(50);
  for (const budget of [12, 13, 20, 50]) {
    const parts = ns.splitParts(text, budget);
    assert.equal(parts.join(""), text);
    for (const p of parts) {
      assert.doesNotThrow(() => encodeURIComponent(p), "no lone surrogate");
      assert.ok(encodeURIComponent(p).length <= budget);
    }
  }
});

test("a frame that would need more than 32 parts is refused", () => {
  assert.equal(ns.jsonpUrls(BASE, "c", { t: "msg", cid: "c1", body: "\u5ba2".repeat(8000) }), null);
});
