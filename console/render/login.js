// The sign-in screen, and the signed-in agent kept in sessionStorage across reloads.
// Owns the login form, its errors and the saved sign-in.
// Knows nothing of the socket or the conversations: a good sign-in goes to `start`.

import { S, STORE_KEY } from "../state.js";
import * as api from "../api.js";
import { $ } from "./dom.js";

let hooks = { start: () => {} };

// hooks.start(token, agent): signed in.
export function initLogin(h) {
  hooks = h;
  $("login-form").addEventListener("submit", onLogin);
}

// The sign-in kept by an earlier page of this tab: {token, agent}, or null.
export function saved() {
  try {
    const s = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
    return s && s.token && s.agent ? s : null;
  } catch (e) {
    return null;
  }
}

// Forget the kept sign-in and the kept unsent replies.
export function forget() {
  sessionStorage.removeItem(STORE_KEY);
  S.outbox.forget();
}

export function showLogin(message) {
  $("app").hidden = true;
  $("login").hidden = false;
  const err = $("login-error");
  err.hidden = !message;
  err.textContent = message || "";
  document.title = "kefu console";
  $(S.agent ? "login-password" : "login-email").focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  const email = $("login-email").value.trim();
  const password = $("login-password").value;
  const site = $("login-site").value.trim();
  const err = $("login-error");
  const fail = (m) => {
    err.textContent = m;
    err.hidden = false;
  };
  if (!email || !password) return fail("Enter your email and password.");
  const body = { email, password };
  if (site) body.site = site;
  $("login-submit").disabled = true;
  err.hidden = true;
  try {
    const res = await api.login(body);
    if (res.status === 400) $("login-site-row").hidden = false;
    const refused = api.loginRefusal(res);
    if (refused) return fail(refused);
    const { token, agent } = res.data;
    sessionStorage.setItem(STORE_KEY, JSON.stringify({ token, agent }));
    $("login-password").value = "";
    hooks.start(token, agent);
  } finally {
    $("login-submit").disabled = false;
  }
}
