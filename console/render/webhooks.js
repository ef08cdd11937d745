// The Settings dialog's Webhooks section (admins): the site's webhooks listed with how
// their deliveries go, added (the signing secret shown once, right after), paused and
// resumed, deleted (a second click confirms), and each one's latest deliveries shown, a
// failed one sent again; over REST, with the server's reason shown when it refuses.
// Owns the section: its list, the secret box, the add form and the deliveries shown.
// Knows nothing of the socket or the conversations, nor of the dialog around it
// (render/settings.js's); the words for webhooks and deliveries are webhooks.js's.

import { S } from "../state.js";
import { EVENTS, webhookList, withoutSecret, deliveryList, eventsText, hookState, eventLabel, deliveryState, deliveryDetail } from "../webhooks.js";
import { hhmm } from "../format.js";
import * as api from "../api.js";
import { $, add, showFormError } from "./dom.js";

const DELIVERIES_SHOWN = 20; // the latest deliveries listed under a webhook
const CONFIRM_FOR = 5000; // ms a "Really delete?" waits for its second click

let confirming = null; // {id, timer}: the webhook whose Delete waits for a second click
let secretOf = null; // the id of the webhook whose secret the box shows
let listSeq = 0; // the latest list request: an older answer arriving later is dropped
const deliveriesSeq = new Map(); // webhook id -> its latest deliveries request

const hookPath = (id) => "/v1/webhooks/" + encodeURIComponent(id);

export function initWebhooks() {
  const box = $("webhook-events");
  for (const [event, label] of EVENTS) {
    const l = add(box, "label", "check");
    const input = add(l, "input");
    input.type = "checkbox";
    input.name = "events";
    input.value = event;
    input.checked = true;
    add(l, "span", "", label);
    add(l, "code", "muted small", event);
  }
  $("webhook-form").addEventListener("submit", submitWebhook);
  $("webhook-secret-copy").addEventListener("click", copySecret);
  $("webhook-secret-done").addEventListener("click", forgetSecret);
}

// The dialog opens: no secret, no error, no deliveries shown; the list drawn and fetched.
export function openWebhooks() {
  forgetSecret();
  stopConfirming();
  showFormError("webhook-error", "");
  S.deliveries.clear();
  renderWebhooks();
  loadWebhooks();
}

// The dialog closed: the secret is gone for good.
export function leaveWebhooks() {
  forgetSecret();
  stopConfirming();
}

// The list and the deliveries shown, fetched again (while the dialog is open).
export function refreshWebhooks() {
  loadWebhooks();
  for (const id of S.deliveries.keys()) loadDeliveries(id);
}

async function loadWebhooks() {
  const token = S.token;
  const seq = ++listSeq;
  let data;
  try {
    data = await api.get("/v1/webhooks");
  } catch (e) {
    if (S.token === token && seq === listSeq) showFormError("webhook-error", "Could not load the webhooks: " + e.message);
    return;
  }
  if (S.token !== token || seq !== listSeq) return;
  S.webhooks = webhookList(data);
  for (const id of [...S.deliveries.keys()]) {
    if (!S.webhooks.some((w) => w.id === id)) S.deliveries.delete(id);
  }
  renderWebhooks();
}

async function loadDeliveries(id) {
  const token = S.token;
  const seq = (deliveriesSeq.get(id) || 0) + 1;
  deliveriesSeq.set(id, seq);
  let data = null;
  let error = "";
  try {
    data = await api.get(hookPath(id) + "/deliveries?limit=" + DELIVERIES_SHOWN);
  } catch (e) {
    error = "Could not load the deliveries: " + e.message;
  }
  if (S.token !== token || deliveriesSeq.get(id) !== seq) return;
  const shown = S.deliveries.get(id);
  if (!shown) return; // hidden meanwhile
  shown.error = error;
  if (!error) shown.list = deliveryList(data);
  renderWebhooks();
}

// The focused button of the list, to find again once the list is drawn anew.
function focusedButton(ul) {
  const a = document.activeElement;
  if (!a || !ul.contains(a) || !a.dataset.act) return null;
  const li = a.closest(".hook-item");
  return li ? { id: li.dataset.id, act: a.dataset.act } : null;
}

function refocus(ul, f) {
  if (!f) return;
  for (const li of ul.querySelectorAll(".hook-item")) {
    if (li.dataset.id !== f.id) continue;
    const b = [...li.querySelectorAll("[data-act]")].find((x) => x.dataset.act === f.act);
    if (b) b.focus();
  }
}

function button(parent, cls, act, text, label, onClick) {
  const b = add(parent, "button", cls, text);
  b.type = "button";
  b.dataset.act = act;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", () => onClick(b));
  return b;
}

export function renderWebhooks() {
  const ul = $("webhooks-list");
  const focus = focusedButton(ul);
  ul.textContent = "";
  if (!S.agent) return;
  if (!S.webhooks.length) add(ul, "li", "muted small set-empty", "No webhooks yet.");
  const now = Date.now();
  for (const w of S.webhooks) {
    const li = add(ul, "li", "set-item hook-item");
    li.dataset.id = String(w.id);
    const st = hookState(w, now);
    li.dataset.state = st.state;
    const main = add(li, "div", "set-main");
    add(main, "div", "set-title hook-url", w.url);
    add(main, "div", "set-detail hook-events-text", eventsText(w));
    add(main, "div", "hook-state", st.text).dataset.state = st.state;
    const actions = add(li, "div", "set-actions");
    button(actions, "btn small hook-pause", "pause", w.paused ? "Resume" : "Pause",
      (w.paused ? "Resume webhook " : "Pause webhook ") + w.url, (b) => togglePause(w, b));
    const shown = S.deliveries.get(w.id);
    const more = button(actions, "btn small hook-show", "deliveries", shown ? "Hide deliveries" : "Deliveries",
      "Deliveries of webhook " + w.url, () => toggleDeliveries(w));
    more.setAttribute("aria-expanded", shown ? "true" : "false");
    more.setAttribute("aria-controls", "hook-deliveries-" + w.id);
    const asking = confirming && confirming.id === w.id;
    button(actions, "btn danger small set-delete" + (asking ? " confirm" : ""), "delete", asking ? "Really delete?" : "Delete",
      (asking ? "Really delete webhook " : "Delete webhook ") + w.url, (b) => deleteWebhook(w, b));
    if (shown) renderDeliveries(li, w, shown, now);
  }
  refocus(ul, focus);
}

function renderDeliveries(li, w, shown, now) {
  const box = add(li, "div", "hook-deliveries");
  box.id = "hook-deliveries-" + w.id;
  add(box, "div", "hook-deliveries-title", "Latest deliveries");
  if (shown.error) add(box, "p", "form-error", shown.error);
  if (shown.list === null) {
    if (!shown.error) add(box, "p", "muted small", "Loading…");
    return;
  }
  if (!shown.list.length) {
    add(box, "p", "muted small set-empty", "No deliveries yet: they are listed here as events happen.");
    return;
  }
  const ul = add(box, "ul", "hook-delivery-list");
  for (const d of shown.list) {
    const row = add(ul, "li", "hook-delivery");
    row.dataset.id = String(d.id);
    row.dataset.state = String(d.state);
    const main = add(row, "div", "set-main");
    const top = add(main, "div", "hook-delivery-top");
    add(top, "span", "hook-delivery-event", eventLabel(d.event));
    add(top, "span", "hook-delivery-state", deliveryState(d)).dataset.state = String(d.state);
    add(top, "span", "muted small", "conversation #" + d.conv + " · " + hhmm(d.created_at));
    add(main, "div", "set-detail hook-delivery-detail", deliveryDetail(d, now));
    if (d.state === "failed") {
      button(row, "btn small hook-retry", "retry-" + d.id, "Send again",
        "Send the " + eventLabel(d.event) + " delivery again", (b) => retryDelivery(w, d, b));
    }
  }
}

function toggleDeliveries(w) {
  if (S.deliveries.has(w.id)) {
    S.deliveries.delete(w.id);
    renderWebhooks();
    return;
  }
  S.deliveries.set(w.id, { list: null, error: "" });
  renderWebhooks();
  loadDeliveries(w.id);
}

// The webhook as the server answered a change, in place of the one listed.
function replaceHook(w) {
  if (!w || typeof w !== "object") return;
  const hook = withoutSecret(w);
  S.webhooks = S.webhooks.map((x) => (x.id === hook.id ? hook : x));
}

async function togglePause(w, btn) {
  const token = S.token;
  btn.disabled = true;
  showFormError("webhook-error", "");
  const res = await api.change("PATCH", hookPath(w.id), { paused: !w.paused });
  if (S.token !== token) return;
  if (!res.ok) {
    btn.disabled = false;
    showFormError("webhook-error", api.refusal(res, w.paused ? "Resuming the webhook" : "Pausing the webhook"));
    if (res.status === 404) loadWebhooks();
    return;
  }
  replaceHook(res.data && res.data.webhook);
  renderWebhooks();
  loadWebhooks();
}

function stopConfirming() {
  if (confirming) clearTimeout(confirming.timer);
  confirming = null;
}

async function deleteWebhook(w, btn) {
  if (!confirming || confirming.id !== w.id) {
    stopConfirming();
    confirming = {
      id: w.id,
      timer: setTimeout(() => {
        confirming = null;
        renderWebhooks();
      }, CONFIRM_FOR),
    };
    renderWebhooks();
    return;
  }
  stopConfirming();
  const token = S.token;
  btn.disabled = true;
  showFormError("webhook-error", "");
  const res = await api.change("DELETE", hookPath(w.id));
  if (S.token !== token) return;
  if (!res.ok && res.status !== 404) {
    btn.disabled = false;
    btn.textContent = "Delete";
    return showFormError("webhook-error", api.refusal(res, "Deleting the webhook"));
  }
  S.webhooks = S.webhooks.filter((x) => x.id !== w.id);
  S.deliveries.delete(w.id);
  if (secretOf === w.id) forgetSecret();
  renderWebhooks();
  loadWebhooks();
}

async function retryDelivery(w, d, btn) {
  const token = S.token;
  btn.disabled = true;
  const res = await api.change("POST", hookPath(w.id) + "/deliveries/" + encodeURIComponent(d.id) + "/retry");
  if (S.token !== token) return;
  const shown = S.deliveries.get(w.id);
  if (!res.ok) {
    btn.disabled = false;
    const why = res.status === 404 ? "This delivery is not failed any more: it was sent again already, or it is gone." : api.refusal(res, "Sending the delivery again");
    if (shown) shown.error = why;
    else showFormError("webhook-error", why);
    renderWebhooks();
  }
  loadDeliveries(w.id);
  loadWebhooks();
}

async function submitWebhook(ev) {
  ev.preventDefault();
  const url = $("webhook-url").value.trim();
  const boxes = [...$("webhook-events").querySelectorAll('input[type="checkbox"]')];
  const events = boxes.filter((b) => b.checked).map((b) => b.value);
  if (!url) return showFormError("webhook-error", "Enter the URL the events are sent to.");
  if (!events.length) return showFormError("webhook-error", "Choose at least one event.");
  const token = S.token;
  const btn = $("webhook-add");
  btn.disabled = true;
  showFormError("webhook-error", "");
  try {
    const res = await api.change("POST", "/v1/webhooks", { url, events });
    if (S.token !== token) return;
    if (!res.ok) return showFormError("webhook-error", api.refusal(res, "Adding the webhook"));
    $("webhook-url").value = "";
    for (const b of boxes) b.checked = true;
    const w = res.data && res.data.webhook;
    if (w && typeof w === "object") {
      if (typeof w.secret === "string" && w.secret) showSecret(w);
      if (!S.webhooks.some((x) => x.id === w.id)) S.webhooks = S.webhooks.concat([withoutSecret(w)]);
      renderWebhooks();
    }
    if (!$("webhook-secret").hidden) $("webhook-secret-copy").focus();
    loadWebhooks();
  } finally {
    btn.disabled = false;
  }
}

// The secret of the webhook just added, in its box: the only time it is shown.
function showSecret(w) {
  secretOf = w.id;
  $("webhook-secret-url").textContent = w.url;
  $("webhook-secret-value").value = w.secret;
  $("webhook-secret-copy").textContent = "Copy";
  $("webhook-secret").hidden = false;
}

function forgetSecret() {
  secretOf = null;
  $("webhook-secret").hidden = true;
  $("webhook-secret-value").value = "";
  $("webhook-secret-url").textContent = "";
}

async function copySecret() {
  const input = $("webhook-secret-value");
  const btn = $("webhook-secret-copy");
  let done = false;
  try {
    await navigator.clipboard.writeText(input.value);
    done = true;
  } catch (e) {
    // no clipboard here (a page over plain HTTP, or refused): select it instead
  }
  if (!done) {
    input.focus();
    input.select();
    try {
      done = document.execCommand("copy");
    } catch (e) {
      done = false;
    }
  }
  btn.textContent = done ? "Copied" : "Selected: press Ctrl+C (⌘C) to copy";
}
