"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const vm = require("vm");
const { load, BUNDLE } = require("../support/env");

// The loader snippet from README.md, as a page would run it before the script arrives.
const SNIPPET = "window.kefu=window.kefu||function(){(kefu.q=kefu.q||[]).push(arguments)};";

function scriptTag(doc, src, site) {
  const s = doc.createElement("script");
  s.src = src;
  if (site) s.setAttribute("data-site", site);
  doc.body.appendChild(s);
}

test("commands queued before the script loads run in order, later ones at once", () => {
  const log = [];
  const { win, ns, doc } = load({
    pre(w) {
      vm.runInContext(SNIPPET, w);
      w.log = log;
      vm.runInContext(`
        kefu("on", "open", function () { log.push("open"); });
        kefu("on", "open", function () { throw new Error("a host handler that throws"); });
        kefu("open");
        kefu("init", { site: "s_q", base: "http://chat.test/" });
        kefu("no-such-command", 1);
      `, w);
    },
  });
  assert.ok(ns.session, "init ran");
  assert.equal(ns.session.o.base, "http://chat.test", "trailing slash trimmed");
  assert.deepEqual(log, ["open"], "open waited for init and the window");
  assert.equal(doc.body.byClass("kf-root").length, 1);
  assert.doesNotThrow(() => vm.runInContext('kefu("close"); kefu("send", "hi"); kefu("open", 1, 2);', win));
  assert.deepEqual(log, ["open", "open"]);
  assert.equal(ns.session.out.list()[0].body, "hi");
  assert.equal(typeof win.kefu, "function", "kefu stays the page's function");
});

test("a script tag with data-site starts the widget; the server URL comes from its src", () => {
  const { ns } = load({ pre: (w, doc) => scriptTag(doc, "https://chat.example.com/widget.js?v=3", "s_tag") });
  assert.equal(ns.session.o.site, "s_tag");
  assert.equal(ns.session.o.base, "https://chat.example.com");
  const rel = load({ pre: (w, doc) => scriptTag(doc, "/kefu/widget.js", "s_rel") });
  assert.equal(rel.ns.session.o.base, "http://shop.test/kefu", "relative src resolved against the page");
  const proto = load({ pre: (w, doc) => scriptTag(doc, "//cdn.test/widget.js", "s_p") });
  assert.equal(proto.ns.session.o.base, "http://cdn.test");
});

test("no site key: no widget, an error event, nothing thrown", () => {
  const errors = [];
  const { ns, doc, win } = load({
    pre(w) {
      vm.runInContext(SNIPPET, w);
      w.errors = errors;
      vm.runInContext('kefu("on", "error", function (e) { errors.push(e.code); }); kefu("init", {});', w);
    },
  });
  assert.equal(ns.session, undefined);
  assert.deepEqual(errors, ["config"]);
  assert.equal(doc.body.byClass("kf-root").length, 0);
  assert.doesNotThrow(() => vm.runInContext('kefu("open"); kefu("send", "x"); kefu("identify", {id: 1});', win));
});

test("the script loaded twice stays one widget; the only global is kefu", () => {
  const { win, doc } = load({ pre: (w, d) => scriptTag(d, "http://chat.test/widget.js", "s_two") });
  const before = Object.keys(win).sort();
  vm.runInContext(BUNDLE, win);
  assert.equal(doc.body.byClass("kf-root").length, 1);
  assert.deepEqual(Object.keys(win).sort(), before, "no new globals");
  const fresh = load();
  const own = ["document", "location", "localStorage", "setTimeout", "clearTimeout", "listeners", "addEventListener", "window"];
  assert.deepEqual(Object.keys(fresh.win).filter((k) => !own.includes(k)), ["kefu"]);
});
