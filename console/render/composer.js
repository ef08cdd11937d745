// The reply box: sending a reply (through the outbox), typing on / off frames while the
// agent types, drafts kept per conversation, and the canned-response suggestions ("/" and
// the Canned button) with their keys.
// Owns the composer form, the suggestion list and the Canned button.
// Knows nothing of streams or REST: `send` sends a frame, `loadCanned` fetches the canned
// responses again; which ones match is canned.js's.

import { S, cur } from "../state.js";
import { Suggestions, CANNED_STALE, slashQuery } from "../canned.js";
import { msgFrame } from "../outbox.js";
import { $, add } from "./dom.js";
import { renderMessages } from "./pane.js";

const TYPING_EVERY = 1500; // ms between typing "on" frames while the agent types
const TYPING_IDLE = 3000; // ms without a keystroke before typing "off"

let hooks = { send: () => false, loadCanned: () => {} };
const sug = new Suggestions();

// hooks.send(frame) → false when not connected; hooks.loadCanned().
export function initComposer(h) {
  hooks = h;
  $("composer").addEventListener("submit", submitReply);
  const input = $("composer-input");
  input.addEventListener("keydown", (ev) => {
    if (ev.isComposing) return;
    if (suggestKey(ev)) return;
    if (ev.key === "Enter" && !ev.shiftKey) submitReply(ev);
  });
  input.addEventListener("input", onComposerInput);
  input.addEventListener("blur", () => {
    typingStop();
    closeSuggest();
  });
  const cannedBtn = $("canned-btn");
  cannedBtn.addEventListener("mousedown", (ev) => ev.preventDefault()); // the box keeps the focus
  cannedBtn.addEventListener("click", toggleCannedMenu);
}

// Another conversation is about to be shown: keep the draft of this one.
export function leaveConv() {
  const C = cur();
  if (C) C.draft = $("composer-input").value;
  typingStop();
  closeSuggest();
}

// C (or none) is shown: its draft in the box.
export function enterConv(C) {
  $("composer-input").value = C ? C.draft : "";
}

function submitReply(ev) {
  ev.preventDefault();
  const C = cur();
  const input = $("composer-input");
  const body = input.value;
  closeSuggest();
  if (!C || C.closed || !body.trim()) return;
  // Not connected: the reply waits in the outbox, sent on welcome.
  hooks.send(msgFrame(S.outbox.add(C.conv, body)));
  input.value = "";
  C.draft = "";
  typingStop();
  renderMessages(true);
  input.focus();
}

// ---------------------------------------------------------------- typing

let typingConv = null;
let typingSentAt = 0;
let typingIdle = null;

function typingInput() {
  const C = cur();
  if (!C || C.closed) return;
  C.draft = $("composer-input").value;
  if (!C.draft.trim()) return typingStop();
  const now = Date.now();
  if (typingConv !== C.conv || now - typingSentAt > TYPING_EVERY) {
    if (typingConv !== null && typingConv !== C.conv) typingStop();
    hooks.send({ t: "typing", conv: C.conv, on: true });
    typingConv = C.conv;
    typingSentAt = now;
  }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(typingStop, TYPING_IDLE);
}

export function typingStop() {
  clearTimeout(typingIdle);
  if (typingConv !== null) hooks.send({ t: "typing", conv: typingConv, on: false });
  typingConv = null;
  typingSentAt = 0;
}

// ---------------------------------------------------------------- canned responses

function onComposerInput() {
  typingInput();
  const q = sug.onInput($("composer-input").value);
  if (q === null) {
    if (sug.open) closeSuggest();
    return;
  }
  openSuggest("slash", q);
}

function openSuggest(mode, query) {
  sug.mode = mode;
  sug.query = query;
  refreshSuggest(true);
  if (Date.now() - S.cannedAt > CANNED_STALE) hooks.loadCanned();
}

// The canned responses changed, or the conversation did: the open list follows.
export function refreshSuggest(opening) {
  const C = cur();
  const open = sug.refresh(S.canned, opening, !!C && !C.closed);
  if (open === false) closeSuggest();
  else if (open) renderSuggest();
}

export function closeSuggest() {
  const was = sug.close();
  if (was || !$("canned-suggest").hidden) renderSuggest();
}

function renderSuggest() {
  const ul = $("canned-suggest");
  const input = $("composer-input");
  ul.textContent = "";
  ul.hidden = !sug.open;
  $("canned-btn").setAttribute("aria-expanded", sug.open && sug.mode === "all" ? "true" : "false");
  if (!sug.open) {
    input.removeAttribute("aria-activedescendant");
    return;
  }
  let active = null;
  sug.items.forEach((c, i) => {
    const li = add(ul, "li", "canned-option");
    li.id = "canned-opt-" + i;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", i === sug.index ? "true" : "false");
    li.dataset.shortcut = c.shortcut;
    add(li, "span", "canned-short", "/" + c.shortcut);
    add(li, "span", "canned-preview", c.text);
    // Keep the focus in the reply box.
    li.addEventListener("mousedown", (ev) => ev.preventDefault());
    li.addEventListener("click", () => pickCanned(i));
    if (i === sug.index) active = li;
  });
  input.setAttribute("aria-activedescendant", "canned-opt-" + sug.index);
  if (active) active.scrollIntoView({ block: "nearest" });
}

function pickCanned(i) {
  const c = sug.items[i];
  if (!c) return;
  const input = $("composer-input");
  if (sug.mode === "all" && slashQuery(input.value) === null) {
    input.setRangeText(c.text, input.selectionStart, input.selectionEnd, "end");
  } else {
    input.value = c.text;
    input.setSelectionRange(c.text.length, c.text.length);
  }
  closeSuggest();
  input.focus();
  typingInput();
}

// Keys of the reply box while the list is open; true when the key was used.
function suggestKey(ev) {
  if (!sug.open) return false;
  switch (ev.key) {
    case "ArrowDown":
    case "ArrowUp":
      sug.move(ev.key === "ArrowDown" ? 1 : -1);
      renderSuggest();
      break;
    case "Enter":
    case "Tab":
      if (ev.shiftKey) return false;
      pickCanned(sug.index);
      break;
    case "Escape":
      sug.dismissed = $("composer-input").value;
      closeSuggest();
      break;
    default:
      return false;
  }
  ev.preventDefault();
  return true;
}

function toggleCannedMenu() {
  const input = $("composer-input");
  if (sug.open && sug.mode === "all") {
    closeSuggest();
  } else {
    input.focus();
    openSuggest("all", "");
  }
}

export function renderCannedButton() {
  $("canned-btn").hidden = !S.canned.length;
}
