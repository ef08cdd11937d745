// When the page is drawn: render("convs", "pane", …) asks for parts of the page to be drawn
// again, at most once per animation frame; and the link's state in the top bar.
// Owns the render queue and the connection indicator.
// Knows nothing of REST or of the socket itself: it draws from the state, and the link's
// status it is given (in socket.js's words).

import { S, cur } from "../state.js";
import { $ } from "./dom.js";
import { renderConvs, renderTeam } from "./convs.js";
import { renderVisitors } from "./visitors.js";
import { renderPane, renderMessages, renderTyping, renderTransferOptions } from "./pane.js";
import { closeSuggest } from "./composer.js";
import { statusText } from "../socket.js";

let queued = new Set();

// Parts: convs, visitors, team, pane (the whole chat pane), messages (only the list),
// typing, conn.
export function render(...what) {
  const first = queued.size === 0;
  for (const w of what) queued.add(w);
  if (first) {
    requestAnimationFrame(() => {
      const q = queued;
      queued = new Set();
      if (!S.agent) return;
      if (q.has("convs")) renderConvs();
      if (q.has("visitors")) renderVisitors();
      if (q.has("team")) {
        renderTeam();
        renderTransferOptions();
      }
      if (q.has("pane")) {
        renderPane();
        const C = cur();
        if (C && C.closed) closeSuggest();
      } else if (q.has("messages")) renderMessages(false);
      if (q.has("typing") || q.has("pane")) renderTyping();
      if (q.has("conn")) renderConn();
    });
  }
}

let conn = { state: "connecting", text: "", retryAt: 0 };

// The link's state ({state, text, retryAt}, socket.js), shown now.
export function setConn(status) {
  conn = status;
  renderConn();
}

function renderConn() {
  $("conn").dataset.state = conn.state;
  $("conn-text").textContent = statusText(conn, Date.now());
}
