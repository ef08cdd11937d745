"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { load, plain } = require("../support/env");

// Fake XMLHttpRequest / XDomainRequest recording what the widget does with them.
function fakes() {
  const made = [];
  function Xhr() {
    this.headers = {};
    this.readyState = 0;
    made.push(this);
  }
  Xhr.prototype.open = function (m, u) {
    this.method = m;
    this.url = u;
  };
  Xhr.prototype.setRequestHeader = function (k, v) {
    this.headers[k] = v;
  };
  Xhr.prototype.send = function (b) {
    this.body = b;
  };
  Xhr.prototype.abort = function () {
    this.aborted = true;
  };
  Xhr.prototype.answer = function (status, text) {
    this.status = status;
    this.responseText = text;
    this.readyState = 4;
    this.onreadystatechange();
  };
  function Xdr() {
    made.push(this);
  }
  Xdr.prototype.open = Xhr.prototype.open;
  Xdr.prototype.send = Xhr.prototype.send;
  Xdr.prototype.abort = Xhr.prototype.abort;
  return { made, Xhr, Xdr };
}

test("XHR: text/plain bodies, JSON answers, statuses and garbage are errors", () => {
  const f = fakes();
  const { ns } = load({ globals: { XMLHttpRequest: f.Xhr } });
  const got = [];
  ns.xhr("POST", "http://c.test/v1/lp/send?chan=a", '{"t":"msg"}', 1000, (e, d) => got.push([e, plain(d)]));
  const x = f.made[0];
  assert.equal(x.method, "POST");
  assert.equal(x.headers["Content-Type"], "text/plain;charset=UTF-8", "a simple request: no CORS preflight");
  assert.equal(x.body, '{"t":"msg"}');
  x.answer(200, '{"ok":true,"n":1}');
  ns.xhr("GET", "u", null, 1000, (e, d) => got.push([e, d]));
  assert.equal(f.made[1].headers["Content-Type"], undefined, "GET sends no body and no content type");
  f.made[1].answer(503, '{"error":"full"}');
  ns.xhr("GET", "u", null, 1000, (e, d) => got.push([e, d]));
  f.made[2].answer(200, "<html>proxy error</html>");
  ns.xhr("GET", "u", null, 1000, (e, d) => got.push([e, d]));
  f.made[3].answer(0, "");
  assert.deepEqual(got, [[null, { ok: true, n: 1 }], ["status", null], ["parse", null], ["net", null]]);
});

test("XHR and XDomainRequest time out once, and aborted requests stay silent", () => {
  const f = fakes();
  const { ns, clock } = load({ globals: { XMLHttpRequest: f.Xhr, XDomainRequest: f.Xdr } });
  const got = [];
  ns.xhr("GET", "u", null, 1000, (e) => got.push(e));
  clock.advance(1001);
  assert.deepEqual(got, ["timeout"]);
  assert.ok(f.made[0].aborted);
  const h = ns.xhr("GET", "u", null, 1000, (e) => got.push(e));
  h.abort();
  clock.advance(5000);
  assert.deepEqual(got, ["timeout"], "no callback after abort");

  ns.xhr("POST", "http://c.test/v1/lp/open?tr=xdr", "{}", 1000, (e, d) => got.push([e, plain(d)]), true);
  const x = f.made[2];
  assert.ok(x instanceof f.Xdr, "XDomainRequest when asked");
  assert.equal(typeof x.onprogress, "function", "IE9 drops requests without onprogress");
  x.responseText = '{"chan":"abc"}';
  x.onload();
  ns.xhr("GET", "u", null, 1000, (e) => got.push(e), true);
  f.made[3].onerror();
  assert.deepEqual(got.slice(1), [[null, { chan: "abc" }], "net"]);
});

test("JSONP: a script calls back kefu._j.<name>; errors and silent scripts fail", () => {
  const { ns, win, doc, clock } = load();
  const got = [];
  ns.jsonp("http://c.test/v1/jsonp/poll?chan=a&ack=0", 30000, (e, d) => got.push([e, plain(d)]));
  const s = doc.head.childNodes.find((n) => n.tagName === "SCRIPT");
  const cb = new URL(s.src).searchParams.get("cb");
  assert.match(cb, /^kefu\._j\.c\d+$/, "a callback the server accepts (at most three dotted names)");
  win.kefu._j[cb.split(".")[2]]({ from: 1, frames: [] });
  assert.deepEqual(got, [[null, { from: 1, frames: [] }]]);
  assert.equal(s.parentNode, null, "the script is removed");
  win.kefu._j[cb.split(".")[2]]({ late: true });
  assert.equal(got.length, 1, "a late answer is ignored");

  ns.jsonp("http://c.test/v1/jsonp/open?f=x", 1000, (e, d) => got.push([e, d]));
  const s2 = doc.head.childNodes.find((n) => n.tagName === "SCRIPT");
  s2.onload({ type: "load" });
  ns.jsonp("http://c.test/v1/jsonp/open?f=x", 1000, (e, d) => got.push([e, d]));
  doc.head.childNodes.find((n) => n.tagName === "SCRIPT").onerror({ type: "error" });
  ns.jsonp("http://c.test/v1/jsonp/open?f=x", 1000, (e, d) => got.push([e, d]));
  clock.advance(1001);
  assert.deepEqual(got.slice(1), [["script", null], ["net", null], ["timeout", null]]);
  assert.equal(doc.head.childNodes.filter((n) => n.tagName === "SCRIPT").length, 0);
});
