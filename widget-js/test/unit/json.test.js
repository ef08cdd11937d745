"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { load, plain } = require("../support/env");

const SAMPLES = [
  { t: "msg", cid: "c1", body: "Hello, world" },
  { t: "e", conv: 7, off: 3, body: "quotes \" and \\ backslash / slash", ts: 1764370000123 },
  { body: "lines\nand\ttabs\r\u0001\u001f control", n: -12.5e-3, z: 0, big: 9007199254740991 },
  { body: "\u5ba2\u670d \u00e9\u00e8 emoji \ud83d\ude00 sep \u2028\u2029 end" },
  { a: [1, "two", null, true, false, [], {}, [[{ deep: [1] }]]], "": "empty key" },
  { html: "<script>alert(1)</script>", amp: "&lt;" },
  [],
  "just a string",
  42,
  null,
];

test("the polyfill round-trips frames, and agrees with native JSON", () => {
  const { ns } = load({ json: false });
  assert.equal(ns.json, ns.jsonPoly, "without a JSON global the polyfill is used");
  for (const v of SAMPLES) {
    const text = ns.jsonPoly.stringify(v);
    assert.deepEqual(JSON.parse(text), v, "native parse of polyfill output: " + text);
    assert.deepEqual(plain(ns.jsonPoly.parse(text)), v, "polyfill round trip: " + text);
    assert.deepEqual(plain(ns.jsonPoly.parse(JSON.stringify(v))), v, "polyfill parse of native output");
  }
});

test("the polyfill serializes like JSON.stringify", () => {
  const { ns } = load({ json: false });
  const v = { a: undefined, f() {}, n: NaN, i: Infinity, arr: [undefined, () => 1], s: "x" };
  assert.equal(ns.jsonPoly.stringify(v), JSON.stringify(v));
  assert.equal(ns.jsonPoly.stringify(undefined), undefined);
  assert.equal(ns.jsonPoly.stringify("\u2028"), '"\\u2028"', "U+2028 escaped so the text is also valid ES3");
});

test("the polyfill refuses what is not JSON, without running it", () => {
  const { ns, win } = load({ json: false });
  const bad = [
    "", "{a:1}", "{'a':1}", "alert(1)", "(function(){ window.pwned = 1 })()",
    '{"a":1} + (window.pwned = 1)', "window.pwned = 1", '"unterminated', "[1] [2]", "undefined", "01x",
  ];
  for (const text of bad) {
    assert.throws(() => ns.jsonPoly.parse(text), undefined, "must refuse: " + text);
  }
  assert.equal(win.pwned, undefined, "nothing was evaluated");
  // json2's structural check tolerates elisions ("[1,]"): lenient, but it runs no code.
  assert.deepEqual(plain(ns.jsonPoly.parse("[1,]")), [1]);
});

test("native JSON is used when sane, and a broken one (Prototype.js) is replaced", () => {
  const native = load();
  assert.notEqual(native.ns.json, native.ns.jsonPoly);
  assert.equal(native.ns.json.stringify({ a: [1] }), '{"a":[1]}');
  // Prototype.js 1.6 added Array.prototype.toJSON, which makes JSON.stringify quote arrays.
  const broken = load({ json: "Array.prototype.toJSON = function () { return 'broken'; };" });
  assert.equal(broken.ns.json, broken.ns.jsonPoly, "a JSON that quotes arrays is not trusted");
});
