/* The demo page's own script (demo.html, served at /demo.js): a tiny cart that must keep
 * working whatever the widget does, and the kefu loader snippet with a log of the widget's
 * states. A file rather than inline scripts, so the page's Content-Security-Policy runs
 * scripts from files only. The site key comes from this tag's data-site. ES3, like the
 * widget. */
(function () {
  var tags = document.getElementsByTagName("script"), me = tags[tags.length - 1];
  var site = me.getAttribute("data-site");
  var n = 0, buttons = document.getElementsByTagName("button"), i;
  function add() {
    n += 1;
    document.getElementById("cart-count").innerHTML = String(n);
  }
  for (i = 0; i < buttons.length; i++) {
    if (buttons[i].className === "add") {
      buttons[i].onclick = add;
    }
  }

  /* kefu loader: queue commands until the widget script has loaded. */
  window.kefu = window.kefu || function () { (window.kefu.q = window.kefu.q || []).push(arguments); };
  window.kefu("init", { site: site, title: "Lantern Tea Co." });
  window.kefu("on", "state", function (s) {
    var log = document.getElementById("log"), line = document.createElement("div");
    line.appendChild(document.createTextNode(new Date().toLocaleTimeString() + "  state: " + s.state +
      (s.transport ? " (" + s.transport + ")" : "") + (s.code ? " code " + s.code : "")));
    log.appendChild(line);
    log.scrollTop = log.scrollHeight;
  });
})();
