// Loads the widget bundle (built exactly as the server builds it) into a Node vm context
// with a fake window: a tiny DOM, a Storage, a manual clock and timers. Tests reach the
// widget's internals through window.kefu._w.
"use strict";

const vm = require("vm");
const { readBundle } = require("../../scripts/bundle");

const BUNDLE = readBundle().text;

// A Storage backed by a Map; shared between "page loads" to model reloads and tabs.
class FakeStorage {
  constructor() {
    this.m = new Map();
  }
  getItem(k) {
    return this.m.has(k) ? this.m.get(k) : null;
  }
  setItem(k, v) {
    this.m.set(k, String(v));
  }
  removeItem(k) {
    this.m.delete(k);
  }
}

// Just enough DOM for ui.js: elements with children, attributes, classes and text.
class Node {
  constructor(doc, tag, text) {
    this.ownerDocument = doc;
    this.tagName = tag ? tag.toUpperCase() : "#text";
    this.nodeValue = text === undefined ? null : text;
    this.childNodes = [];
    this.parentNode = null;
    this.attrs = {};
    this.style = {};
    this.className = "";
    this.listeners = {};
  }
  get firstChild() {
    return this.childNodes[0] || null;
  }
  appendChild(c) {
    if (c.parentNode) c.parentNode.removeChild(c);
    this.childNodes.push(c);
    c.parentNode = this;
    return c;
  }
  insertBefore(c, ref) {
    if (!ref) return this.appendChild(c);
    if (c.parentNode) c.parentNode.removeChild(c);
    this.childNodes.splice(this.childNodes.indexOf(ref), 0, c);
    c.parentNode = this;
    return c;
  }
  removeChild(c) {
    const i = this.childNodes.indexOf(c);
    if (i < 0) throw new Error("not a child");
    this.childNodes.splice(i, 1);
    c.parentNode = null;
    return c;
  }
  setAttribute(k, v) {
    this.attrs[k] = String(v);
  }
  getAttribute(k) {
    return k in this.attrs ? this.attrs[k] : null;
  }
  addEventListener(ev, fn) {
    (this.listeners[ev] = this.listeners[ev] || []).push(fn);
  }
  removeEventListener() {}
  focus() {}
  dispatch(ev, props) {
    for (const fn of this.listeners[ev] || []) fn(Object.assign({ type: ev, preventDefault() {} }, props));
  }
  get textContent() {
    if (this.tagName === "#text") return this.nodeValue;
    return this.childNodes.map((c) => c.textContent).join("");
  }
  // Every descendant element (depth first).
  all() {
    const out = [];
    for (const c of this.childNodes) {
      if (c.tagName !== "#text") out.push(c, ...c.all());
    }
    return out;
  }
  byClass(cls) {
    return this.all().filter((e) => (" " + e.className + " ").includes(" " + cls + " "));
  }
  get visible() {
    for (let e = this; e; e = e.parentNode) if (e.style && e.style.display === "none") return false;
    return true;
  }
}

class FakeDocument {
  constructor() {
    this.documentElement = new Node(this, "html");
    this.head = this.documentElement.appendChild(new Node(this, "head"));
    this.body = this.documentElement.appendChild(new Node(this, "body"));
    this.title = "Test page";
    this.referrer = "";
    this.visibilityState = "visible";
    this.listeners = {};
  }
  createElement(tag) {
    return new Node(this, tag);
  }
  createTextNode(t) {
    return new Node(this, null, String(t));
  }
  getElementsByTagName(tag) {
    const t = tag.toUpperCase();
    return [this.documentElement, ...this.documentElement.all()].filter((e) => e.tagName === t);
  }
  addEventListener(ev, fn) {
    (this.listeners[ev] = this.listeners[ev] || []).push(fn);
  }
}

// Manual timers: nothing runs until the test advances the clock.
class Clock {
  constructor() {
    this.t = 1764370000000;
    this.seq = 0;
    this.timers = new Map();
  }
  setTimeout(fn, ms) {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + (ms || 0), fn });
    return id;
  }
  clearTimeout(id) {
    this.timers.delete(id);
  }
  // Run every timer due within ms from now, in time order.
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let next = null;
      for (const [id, tm] of this.timers) if (tm.at <= end && (!next || tm.at < next[1].at)) next = [id, tm];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
  }
}

/**
 * A fresh page with the widget loaded. opts: storage (a FakeStorage to share), json
 * (false: no JSON global; a string: script run first), globals (extra window properties),
 * pre(window, document): runs before the bundle (a loader snippet, a script tag).
 */
function load(opts = {}) {
  const clock = new Clock();
  const doc = new FakeDocument();
  const ctx = {
    document: doc,
    location: { href: "http://shop.test/page", protocol: "http:", host: "shop.test" },
    localStorage: opts.storage === undefined ? new FakeStorage() : opts.storage,
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (id) => clock.clearTimeout(id),
    listeners: {},
    addEventListener(ev, fn) {
      (this.listeners[ev] = this.listeners[ev] || []).push(fn);
    },
  };
  ctx.window = ctx;
  Object.assign(ctx, opts.globals || {});
  vm.createContext(ctx);
  if (opts.json === false) vm.runInContext("JSON = undefined;", ctx);
  else if (opts.json) vm.runInContext(opts.json, ctx);
  if (opts.pre) opts.pre(ctx, doc);
  vm.runInContext(BUNDLE, ctx, { filename: "widget.js" });
  const ns = ctx.kefu._w;
  ns.now = () => clock.t;
  return { win: ctx, doc, ns, clock };
}

// Objects from the vm realm, as plain objects of this realm (for deepStrictEqual).
function plain(x) {
  return x === undefined ? undefined : JSON.parse(JSON.stringify(x));
}

// A conn stand-in for Session tests: records sent frames, can be up or down.
function fakeConn() {
  return {
    state: "online",
    link: { up: true },
    frames: [],
    restarts: 0,
    send(f) {
      if (!this.link || !this.link.up) return false;
      this.frames.push(JSON.parse(JSON.stringify(f)));
      return true;
    },
    start() {},
    restart() {
      this.restarts += 1;
    },
    wake() {},
    take(t) {
      const out = this.frames.filter((f) => !t || f.t === t);
      this.frames = this.frames.filter((f) => t && f.t !== t);
      return out;
    },
  };
}

module.exports = { load, plain, fakeConn, FakeStorage, BUNDLE };
