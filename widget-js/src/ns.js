/* kefu visitor widget, ES3 (see README.md). Only global: window.kefu, whose _ld each file
 * joins (null when the script is loaded twice). */
(function (win) {
  var k = win.kefu;
  if (typeof k !== "function") {
    k = win.kefu = function () {
      (k.q = k.q || []).push(arguments);
    };
  }
  k._ld = k._w && k._w.booted ? null : k._w = { win: win, doc: win.document };
  k._j = k._j || {};
})(window);
