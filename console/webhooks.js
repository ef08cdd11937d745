// Webhooks in words, for the settings panel: the events a webhook can take, what it is
// sent, how its deliveries go ("Paused", "Delivering — last success 2m ago", "Failing: …
// — 3 waiting, next attempt in 40s") and one delivery's line.
// Owns only pure functions of the webhooks and deliveries they are given (and of `now`).
// Knows nothing of the page, the state, the socket or REST.

import { ago, duration, plural } from "./format.js";

// Every event a webhook can take (docs/operations.md, "Webhooks"), in the server's order,
// with its name for an admin.
export const EVENTS = [
  ["conversation.opened", "Conversation opened"],
  ["conversation.assigned", "Conversation assigned"],
  ["conversation.transferred", "Conversation transferred"],
  ["conversation.closed", "Conversation closed"],
  ["conversation.reopened", "Conversation reopened"],
  ["message.created", "New message"],
  ["offline_message.left", "Offline message left"],
];

const LABELS = new Map(EVENTS);

// The name of an event for an admin (an unknown one as it is).
export const eventLabel = (e) => LABELS.get(e) || String(e);

// The usable webhooks of a GET /v1/webhooks answer, as the server lists them (oldest
// first); never their secrets.
export function webhookList(data) {
  return (Array.isArray(data && data.webhooks) ? data.webhooks : [])
    .filter((w) => w && typeof w === "object" && w.id !== undefined && typeof w.url === "string")
    .map(withoutSecret);
}

// A webhook as kept for the list: the secret, when the answer had one, left out.
export function withoutSecret(w) {
  const copy = Object.assign({}, w);
  delete copy.secret;
  return copy;
}

// The usable deliveries of a GET /v1/webhooks/{id}/deliveries answer (newest first).
export function deliveryList(data) {
  return (Array.isArray(data && data.deliveries) ? data.deliveries : []).filter((d) => d && typeof d === "object" && d.id !== undefined);
}

// What a webhook is sent: "All events", or the names of its events.
export function eventsText(w) {
  const events = Array.isArray(w.events) ? w.events : [];
  if (EVENTS.every(([e]) => events.includes(e))) return "All events";
  if (!events.length) return "No events";
  return events.map(eventLabel).join(", ");
}

// "in 40s", "now".
function inTime(at, now) {
  return at > now ? "in " + duration(at - now) : "now";
}

// "3 waiting, next attempt in 40s", "" when nothing waits.
function waitingText(w, now, next) {
  const n = Number(w.pending) || 0;
  if (!n) return "";
  let text = n + " waiting";
  if (next && typeof w.next_attempt_at === "number") text += ", next attempt " + inTime(w.next_attempt_at, now);
  return text;
}

// Has the last attempt failed (no success since the last error)?
export function isFailing(w) {
  if (typeof w.last_error_at !== "number") return false;
  return typeof w.last_ok_at !== "number" || w.last_error_at >= w.last_ok_at;
}

// How a webhook's deliveries go, now: {state: "paused" | "failing" | "ok" | "idle", text}.
export function hookState(w, now) {
  if (w.paused) {
    const waiting = waitingText(w, now, false);
    return { state: "paused", text: "Paused" + (waiting ? " — " + waiting + ", sent when resumed" : "") };
  }
  const waiting = waitingText(w, now, true);
  const tail = waiting ? " — " + waiting : "";
  if (isFailing(w)) return { state: "failing", text: "Failing: " + String(w.last_error || "no answer") + tail };
  if (typeof w.last_ok_at === "number") {
    return { state: "ok", text: "Delivering — last success " + ago(now - w.last_ok_at) + tail };
  }
  if (waiting) return { state: "ok", text: "Delivering — " + waiting };
  return { state: "idle", text: "Waiting for the first event" };
}

// A delivery's state in words.
export function deliveryState(d) {
  if (d.state === "delivered") return "Delivered";
  if (d.state === "failed") return "Failed";
  return Number(d.attempts) > 0 ? "Retrying" : "Waiting";
}

// The details of a delivery after its event and state: attempts, the last answer or
// error, when the next attempt is due.
export function deliveryDetail(d, now) {
  const attempts = Number(d.attempts) || 0;
  const parts = [attempts ? plural(attempts, "attempt", "attempts") : "not sent yet"];
  if (d.last_error) parts.push(String(d.last_error));
  else if (typeof d.last_status === "number") parts.push("HTTP " + d.last_status);
  if (d.state === "pending" && typeof d.next_attempt_at === "number") parts.push("next attempt " + inTime(d.next_attempt_at, now));
  return parts.join(" · ");
}
