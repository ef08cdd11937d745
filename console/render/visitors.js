// The right column: live visitors on the site (page, referrer, device, time on site,
// visits, transports, identity marked verified or not), and the invitation form.
// Owns those elements and the invite frame.
// Knows nothing of streams or REST: `send` sends a frame, `select` opens a conversation.

import { S, newConv } from "../state.js";
import { describeUa, duration, ago, hostOf } from "../format.js";
import { visitorName, identityTitle } from "../names.js";
import { visitorsInOrder } from "../lists.js";
import { $, h, add, toast } from "./dom.js";

let hooks = { send: () => false, select: () => {} };

// hooks.send(frame) → false when not connected; hooks.select(conv).
export function initVisitors(h) {
  hooks = h;
  $("invite-form").addEventListener("submit", submitInvite);
  $("invite-cancel").addEventListener("click", closeInvite);
}

// The "✓ verified" or "not verified" tag of a visitor's identity.
export function identityTag(parent, u) {
  const ok = u.verified === true;
  const tag = add(parent, "span", "tag " + (ok ? "verified" : "unverified"), ok ? "✓ verified" : "not verified");
  tag.title = identityTitle(u);
  return tag;
}

export function renderVisitors() {
  const box = $("visitor-list");
  box.textContent = "";
  const list = visitorsInOrder(S.visitors.values());
  $("visitor-count").textContent = list.length ? String(list.length) : "";
  if (!list.length) add(box, "p", "muted pad", "Nobody is on the site right now.");
  const now = Date.now();
  for (const v of list) box.appendChild(visitorCard(v, now));
}

function visitorCard(v, now) {
  const card = h("div", "visitor");
  card.dataset.visitor = v.id;
  const top = add(card, "div", "visitor-top");
  add(top, "span", "presence-dot " + (v.visible ? "active" : "idle"));
  add(top, "span", "visitor-name", visitorName(v));
  if (v.user) identityTag(top, v.user);
  add(top, "span", "tag " + (v.visible ? "active" : "idle"), v.visible ? "active" : "idle");
  const page = v.page || {};
  const pg = add(card, "div", "visitor-page");
  add(pg, "div", "page-title", page.title || "(untitled page)");
  if (/^https?:\/\//i.test(page.url || "")) {
    const a = add(pg, "a", "page-url", page.url);
    a.href = page.url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
  } else {
    add(pg, "div", "page-url", page.url || "");
  }
  const meta = add(card, "div", "visitor-meta");
  add(meta, "span", "meta ref", page.ref ? "from " + hostOf(page.ref) : "direct visit");
  add(meta, "span", "meta device", describeUa(v.ua));
  add(meta, "span", "meta time", "on site " + duration(now - (v.since || now)));
  add(meta, "span", "meta pages", (v.pages || 0) + (v.pages === 1 ? " page" : " pages"));
  add(meta, "span", "meta visits", (v.visits || 1) + (v.visits === 1 ? " visit" : " visits"));
  if (typeof v.invited === "number" && v.invited > 0) {
    const inv = add(meta, "span", "meta invited", "invited " + ago(now - v.invited));
    inv.title = "Last invited " + new Date(v.invited).toLocaleString();
  }
  const tr = add(meta, "span", "meta transports");
  for (const t of v.transports || []) add(tr, "span", "tag transport", t);
  if (v.user && v.user.attrs) {
    const keys = Object.keys(v.user.attrs).slice(0, 20);
    if (keys.length) {
      const ok = v.user.verified === true;
      const dl = add(card, "div", "visitor-attrs " + (ok ? "verified" : "unverified"));
      dl.title = identityTitle(v.user);
      add(dl, "span", "attrs-label", ok ? "✓ verified:" : "not verified:");
      for (const k of keys) {
        const val = v.user.attrs[k];
        add(dl, "span", "attr", k + ": " + (typeof val === "string" ? val : JSON.stringify(val)));
      }
    }
  }
  const actions = add(card, "div", "visitor-actions");
  if (v.conv) {
    const b = add(actions, "button", "btn small open-chat", "Open chat #" + v.conv);
    b.type = "button";
    b.addEventListener("click", () => {
      const C = newConv(v.conv);
      C.vid = v.id;
      hooks.select(v.conv);
    });
  } else {
    const b = add(actions, "button", "btn small primary invite", "Invite");
    b.type = "button";
    b.addEventListener("click", () => openInvite(v));
  }
  return card;
}

// ---------------------------------------------------------------- invitations

function openInvite(v) {
  S.inviting = v.id;
  $("invite-name").textContent = visitorName(v);
  const text = $("invite-text");
  if (!text.value.trim()) text.value = "Hi! Can I help you with anything?";
  $("invite-form").hidden = false;
  text.focus();
  text.select();
}

export function closeInvite() {
  S.inviting = null;
  $("invite-form").hidden = true;
}

function submitInvite(ev) {
  ev.preventDefault();
  const text = $("invite-text").value.trim();
  const v = S.visitors.get(S.inviting);
  if (!v) {
    toast("That visitor has left the site.", "bad");
    return closeInvite();
  }
  if (!text) return;
  if (hooks.send({ t: "invite", visitor: v.id, text })) {
    toast("Invitation sent to " + visitorName(v) + ".", "good");
    closeInvite();
  } else {
    toast("Not connected: try again in a moment.", "bad");
  }
}
