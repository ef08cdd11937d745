// The Settings dialog (admins): canned responses and automatic invitation rules, listed,
// added and deleted over REST, with the server's reason shown when it refuses; and the
// webhooks section (render/webhooks.js), opened, refreshed and left with the dialog.
// Owns the dialog, the canned responses' and rules' lists and their forms.
// Knows nothing of the socket or the conversations; the composer is told when the
// canned responses change.

import { S, isAdmin } from "../state.js";
import { withCanned, normalShortcut } from "../canned.js";
import { ruleWhen } from "../lists.js";
import * as api from "../api.js";
import { $, add, showFormError } from "./dom.js";
import { renderCannedButton, refreshSuggest } from "./composer.js";
import { initWebhooks, openWebhooks, leaveWebhooks, refreshWebhooks } from "./webhooks.js";

let hooks = { loadCanned: () => {} };

// hooks.loadCanned(): fetch the canned responses again.
export function initSettings(h) {
  hooks = h;
  $("settings-btn").addEventListener("click", openSettings);
  $("settings-close").addEventListener("click", closeSettings);
  // A click on the backdrop (the dialog itself, outside its content) closes it.
  $("settings").addEventListener("click", (ev) => ev.target === $("settings") && closeSettings());
  // However it closes (Close, Escape, signing out), a webhook's secret is not shown again.
  $("settings").addEventListener("close", leaveWebhooks);
  $("canned-form").addEventListener("submit", submitCanned);
  $("rule-form").addEventListener("submit", submitRule);
  initWebhooks();
}

function openSettings() {
  if (!isAdmin()) return;
  const d = $("settings");
  showFormError("canned-error", "");
  showFormError("rule-error", "");
  renderCannedList();
  renderRulesList();
  if (!d.open) d.showModal();
  hooks.loadCanned();
  loadRules();
  openWebhooks();
}

export function closeSettings() {
  const d = $("settings");
  if (d.open) d.close();
}

// While the dialog is open, what changes by itself (how webhooks' deliveries go) is
// fetched again.
export function refreshSettings() {
  if ($("settings").open && isAdmin()) refreshWebhooks();
}

async function loadRules() {
  const token = S.token;
  let data;
  try {
    data = await api.get("/v1/rules");
  } catch (e) {
    if (S.token === token) showFormError("rule-error", "Could not load the rules: " + e.message);
    return;
  }
  if (S.token !== token) return;
  S.rules = (Array.isArray(data.rules) ? data.rules : []).filter((r) => r && typeof r === "object");
  renderRulesList();
}

export function renderCannedList() {
  const ul = $("canned-list");
  ul.textContent = "";
  if (!S.agent) return;
  if (!S.canned.length) add(ul, "li", "muted small set-empty", "No canned responses yet.");
  for (const c of S.canned) {
    const li = add(ul, "li", "set-item");
    li.dataset.id = String(c.id);
    li.dataset.shortcut = c.shortcut;
    const main = add(li, "div", "set-main");
    add(main, "div", "set-title", "/" + c.shortcut);
    add(main, "div", "set-text", c.text);
    const del = add(li, "button", "btn danger small set-delete", "Delete");
    del.type = "button";
    del.setAttribute("aria-label", "Delete canned response /" + c.shortcut);
    del.addEventListener("click", () => deleteCanned(c, del));
  }
}

function renderRulesList() {
  const ul = $("rules-list");
  ul.textContent = "";
  if (!S.agent) return;
  if (!S.rules.length) add(ul, "li", "muted small set-empty", "No automatic invitations yet.");
  for (const r of S.rules) {
    const li = add(ul, "li", "set-item");
    li.dataset.id = String(r.id);
    const main = add(li, "div", "set-main");
    add(main, "div", "set-title", String(r.name || "(no name)"));
    add(main, "div", "set-detail rule-url", r.url ? "URL matches " + r.url : "every page");
    add(main, "div", "set-detail rule-when", ruleWhen(r));
    add(main, "div", "set-text", String(r.text || ""));
    const del = add(li, "button", "btn danger small set-delete", "Delete");
    del.type = "button";
    del.setAttribute("aria-label", "Delete rule " + (r.name || ""));
    del.addEventListener("click", () => deleteRule(r, del));
  }
}

async function submitCanned(ev) {
  ev.preventDefault();
  const shortcut = normalShortcut($("canned-shortcut").value);
  const text = $("canned-text").value.trim();
  if (!shortcut || !text) return showFormError("canned-error", "Enter a shortcut and the text it stands for.");
  const btn = $("canned-add");
  btn.disabled = true;
  showFormError("canned-error", "");
  try {
    const res = await api.change("POST", "/v1/canned", { shortcut, text });
    if (!S.agent) return;
    if (!res.ok) return showFormError("canned-error", api.refusal(res, "Adding the canned response"));
    $("canned-shortcut").value = "";
    $("canned-text").value = "";
    const list = withCanned(S.canned, res.data && res.data.canned);
    if (list !== S.canned) {
      S.canned = list;
      renderCannedList();
      renderCannedButton();
    }
    $("canned-shortcut").focus();
    hooks.loadCanned();
  } finally {
    btn.disabled = false;
  }
}

async function deleteCanned(c, btn) {
  btn.disabled = true;
  showFormError("canned-error", "");
  const res = await api.change("DELETE", "/v1/canned/" + encodeURIComponent(c.id));
  if (!S.agent) return;
  if (!res.ok && res.status !== 404) {
    btn.disabled = false;
    return showFormError("canned-error", api.refusal(res, "Deleting /" + c.shortcut));
  }
  S.canned = S.canned.filter((x) => x.id !== c.id);
  renderCannedList();
  renderCannedButton();
  refreshSuggest();
  hooks.loadCanned();
}

// A whole number 0… from a form field, or null.
function wholeNumber(id) {
  const v = $(id).value.trim();
  if (!/^\d+$/.test(v)) return null;
  return Number(v);
}

async function submitRule(ev) {
  ev.preventDefault();
  const name = $("rule-name").value.trim();
  const url = $("rule-url").value.trim();
  const text = $("rule-text").value.trim();
  const minSeconds = wholeNumber("rule-seconds");
  const minVisits = wholeNumber("rule-visits");
  if (!name || !text) return showFormError("rule-error", "Enter a name and the invitation text.");
  if (minSeconds === null || minVisits === null) return showFormError("rule-error", "Seconds and visits are whole numbers, 0 or more.");
  const btn = $("rule-add");
  btn.disabled = true;
  showFormError("rule-error", "");
  try {
    const res = await api.change("POST", "/v1/rules", { name, url, min_seconds: minSeconds, min_visits: minVisits, text });
    if (!S.agent) return;
    if (!res.ok) return showFormError("rule-error", api.refusal(res, "Adding the rule"));
    for (const id of ["rule-name", "rule-url", "rule-text"]) $(id).value = "";
    const r = res.data && res.data.rule;
    if (r && typeof r === "object" && !S.rules.some((x) => x.id === r.id)) {
      S.rules = S.rules.concat([r]);
      renderRulesList();
    }
    $("rule-name").focus();
    loadRules();
  } finally {
    btn.disabled = false;
  }
}

async function deleteRule(r, btn) {
  btn.disabled = true;
  showFormError("rule-error", "");
  const res = await api.change("DELETE", "/v1/rules/" + encodeURIComponent(r.id));
  if (!S.agent) return;
  if (!res.ok && res.status !== 404) {
    btn.disabled = false;
    return showFormError("rule-error", api.refusal(res, "Deleting the rule"));
  }
  S.rules = S.rules.filter((x) => x.id !== r.id);
  renderRulesList();
  loadRules();
}
