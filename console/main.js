// The agent console's entry point (plain ES modules for current browsers, no build step):
// it speaks docs/protocol.md over one WebSocket (socket.js) and docs/api.md over fetch
// (api.js). Every piece of user text reaches the page through textContent only.
// Owns the wiring: signing in and out, which conversation is selected, the canned
// responses' loading, presence, the pane's buttons, page events and the periodic timers.
// Knows nothing of frames' or elements' details: each module does its own part.

import { S, cur, newConv, resetState, isAdmin } from "./state.js";
import * as api from "./api.js";
import { createLink } from "./socket.js";
import * as chat from "./chat.js";
import { cannedList } from "./canned.js";
import { $, toast } from "./render/dom.js";
import { render, setConn } from "./render/index.js";
import { initConvs, renderSearch, resetSearch, updateTitle } from "./render/convs.js";
import { initVisitors, closeInvite } from "./render/visitors.js";
import { renderMessages } from "./render/pane.js";
import { initComposer, leaveConv, enterConv, typingStop, closeSuggest, refreshSuggest, renderCannedButton } from "./render/composer.js";
import { initSettings, closeSettings, renderCannedList, refreshSettings } from "./render/settings.js";
import { initLogin, saved, forget, showLogin } from "./render/login.js";

const link = createLink({
  // No ?site= on the URL: a refused origin then ends with close 4102 after hello, which
  // the console can explain, instead of an upgrade failure it cannot tell from a network
  // error.
  url: (base) =>
    base ? base.replace(/^http/, "ws") + "/v1/ws" : `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/v1/ws`,
  // Every node answers /v1/route: the node serving the agent's site, or none (this node
  // runs alone).
  route: () => api.route(S.agent.site),
  hello: () => ({ t: "hello", v: 1, site: S.agent.site, role: "agent", token: S.token }),
  onWelcome: chat.onWelcome,
  onFrame: chat.onFrame,
  onDown: chat.onDown,
  onExpired: expired,
  onState: setConn,
});

// ---------------------------------------------------------------- signing in and out

function start(token, agent) {
  stop();
  S.token = token;
  S.agent = agent;
  S.outbox.restore();
  for (const item of S.outbox.values()) newConv(item.conv);
  S.status = "online";
  $("presence").value = "online";
  $("presence-dot").dataset.status = "online";
  $("me-name").textContent = agent.name || agent.email || "";
  $("settings-btn").hidden = !isAdmin();
  $("login").hidden = true;
  $("app").hidden = false;
  render("convs", "visitors", "team", "pane", "conn");
  link.start();
  loadCanned();
}

function stop() {
  link.stop();
  resetState();
  resetSearch();
  $("invite-form").hidden = true;
  $("settings-btn").hidden = true;
  closeSettings();
  closeSuggest();
  renderCannedButton();
  for (const id of ["conv-list", "team-list", "visitor-list", "msg-list", "canned-list", "rules-list", "webhooks-list", "search-list"]) $(id).textContent = "";
}

async function logout() {
  const token = S.token;
  stop();
  forget();
  showLogin("");
  if (token) await api.logout(token);
}

// The server no longer takes the token (REST 401, or close 4103).
function expired() {
  stop();
  forget();
  showLogin("Your session has ended. Sign in again.");
}

// ---------------------------------------------------------------- selection

function select(id) {
  if (S.current === id) return;
  leaveConv();
  S.current = id;
  const C = cur();
  if (C) chat.startFollow(C);
  enterConv(C);
  render("pane", "convs");
  if (C) chat.markRead(C);
  if (S.search) renderSearch();
}

// ---------------------------------------------------------------- canned responses

let cannedLoading = null;
function loadCanned() {
  if (!cannedLoading) cannedLoading = fetchCanned().finally(() => (cannedLoading = null));
  return cannedLoading;
}
async function fetchCanned() {
  const token = S.token;
  let data;
  try {
    data = await api.get("/v1/canned");
  } catch (e) {
    return; // no canned responses then; the reply box works without them
  }
  if (S.token !== token) return;
  S.canned = cannedList(data);
  S.cannedAt = Date.now();
  renderCannedButton();
  renderCannedList();
  refreshSuggest();
}

// ---------------------------------------------------------------- wiring

function setPresence() {
  S.status = $("presence").value === "away" ? "away" : "online";
  $("presence-dot").dataset.status = S.status;
  link.send({ t: "presence", status: S.status });
}

function init() {
  api.configure({ token: () => S.token, expired });
  chat.initChat({
    send: link.send,
    render,
    renderMessages,
    toast,
    select,
    visitorLeft: closeInvite,
    visible: () => document.visibilityState === "visible",
    updateTitle,
    typingStop,
    loadCanned,
  });
  initLogin({ start });
  initConvs({ select });
  initVisitors({ send: link.send, select });
  initComposer({ send: link.send, loadCanned });
  initSettings({ loadCanned });
  $("logout").addEventListener("click", logout);
  $("presence").addEventListener("change", setPresence);
  $("take-btn").addEventListener("click", chat.take);
  $("transfer-btn").addEventListener("click", () => chat.transfer($("transfer-to").value));
  $("close-btn").addEventListener("click", chat.close);
  $("reopen-btn").addEventListener("click", chat.reopen);
  $("dismiss-btn").addEventListener("click", chat.dismiss);
  $("load-earlier").addEventListener("click", () => cur() && chat.loadEarlier(cur()));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      chat.markRead(cur());
      link.reconnectNow();
    }
  });
  window.addEventListener("online", link.reconnectNow);
  // A node that joined the cluster after this page was loaded is not in its CSP: the
  // socket to it is refused. A fresh page lists it (at most once a minute; the outbox and
  // the sign-in are kept across it).
  document.addEventListener("securitypolicyviolation", (e) => {
    const last = Number(sessionStorage.getItem("kefu:csp-reload")) || 0;
    if (/^wss?:/.test(e.blockedURI) && S.token && Date.now() - last > 60000) {
      sessionStorage.setItem("kefu:csp-reload", String(Date.now()));
      location.reload();
    }
  });
  window.addEventListener("focus", () => chat.markRead(cur()));
  // The heartbeat timeout and the reconnect countdown.
  setInterval(link.tick, 1000);
  // Typing indicators with no news end.
  setInterval(chat.expireTyping, 1000);
  // Time on site moves on by itself.
  setInterval(() => S.agent && S.visitors.size && render("visitors"), 5000);
  // No frame announces a conversation that waits in the queue or belongs to another
  // agent: look for new ones now and then.
  setInterval(() => link.welcomed && !document.hidden && chat.loadConversations(), 20000);
  // Webhooks' deliveries go on by themselves: Settings, while open, shows how.
  setInterval(() => !document.hidden && refreshSettings(), 5000);
  const s = saved();
  if (s) start(s.token, s.agent);
  else showLogin("");
}

init();
