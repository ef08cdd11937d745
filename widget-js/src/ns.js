/* kefu visitor widget. ES3 throughout: it runs unchanged from IE8 to today's phones.
 * ns.js owns the one global, window.kefu: the loader function (a command queue, kefu.q)
 * and, under kefu._w, the internal namespace every other file adds itself to. Every file
 * is an IIFE that takes that namespace and does nothing when it is missing (a second
 * copy of this script on the page), so nothing else leaks into the host page. */
(function (win) {
  var k = win.kefu;
  if (typeof k !== "function") {
    k = function () {
      (k.q = k.q || []).push(arguments);
    };
    win.kefu = k;
  }
  if (k._w && k._w.booted) {
    k._ld = null;
    return;
  }
  k._w = k._ld = { win: win, doc: win.document, v: 1 };
  k._j = k._j || {};
})(window);
