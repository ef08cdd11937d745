// Webhooks in words: what each is sent, how its deliveries go, and a delivery's line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EVENTS, eventLabel, webhookList, withoutSecret, deliveryList, eventsText, isFailing, hookState, deliveryState, deliveryDetail } from "../../webhooks.js";

const NOW = 1_800_000_000_000;
const hook = (props) => Object.assign({
  id: 1, url: "https://example.com/hook", events: EVENTS.map(([e]) => e), paused: false, created_at: NOW - 3_600_000,
  last_ok_at: null, last_error: null, last_error_at: null, pending: 0, next_attempt_at: null,
}, props);

test("the list keeps webhooks, never a secret", () => {
  const list = webhookList({ webhooks: [hook({ secret: "whsec_x" }), null, { id: 2 }, "x"] });
  assert.equal(list.length, 1);
  assert.equal("secret" in list[0], false);
  assert.deepEqual(webhookList({}), []);
  const w = { id: 3, url: "http://x", secret: "whsec_y" };
  assert.deepEqual(withoutSecret(w), { id: 3, url: "http://x" });
  assert.equal(w.secret, "whsec_y", "the answer itself is left as it is");
  assert.deepEqual(deliveryList({ deliveries: [{ id: 5 }, null, 7] }), [{ id: 5 }]);
  assert.deepEqual(deliveryList(null), []);
});

test("events: all of them, or their names", () => {
  assert.equal(EVENTS.length, 7);
  assert.equal(eventsText(hook()), "All events");
  assert.equal(eventsText(hook({ events: ["message.created", "conversation.closed"] })), "New message, Conversation closed");
  assert.equal(eventsText(hook({ events: [] })), "No events");
  assert.equal(eventLabel("offline_message.left"), "Offline message left");
  assert.equal(eventLabel("conversation.rated"), "conversation.rated", "an event this console does not know, as it is");
});

test("how deliveries go, in words", () => {
  assert.deepEqual(hookState(hook(), NOW), { state: "idle", text: "Waiting for the first event" });
  assert.deepEqual(hookState(hook({ pending: 2, next_attempt_at: NOW }), NOW), { state: "ok", text: "Delivering — 2 waiting, next attempt now" });
  assert.deepEqual(hookState(hook({ last_ok_at: NOW - 120_000 }), NOW), { state: "ok", text: "Delivering — last success 2m ago" });
  assert.deepEqual(hookState(hook({ last_ok_at: NOW - 2_000 }), NOW), { state: "ok", text: "Delivering — last success just now" });
  const failing = hook({ last_ok_at: NOW - 600_000, last_error: "HTTP 500: oops", last_error_at: NOW - 5_000, pending: 3, next_attempt_at: NOW + 40_000 });
  assert.equal(isFailing(failing), true);
  assert.deepEqual(hookState(failing, NOW), { state: "failing", text: "Failing: HTTP 500: oops — 3 waiting, next attempt in 40s" });
  const recovered = hook({ last_ok_at: NOW - 1_000, last_error: "HTTP 500: oops", last_error_at: NOW - 5_000 });
  assert.equal(isFailing(recovered), false, "a success since the error");
  assert.equal(hookState(recovered, NOW).state, "ok");
  assert.deepEqual(hookState(hook({ last_error: "connect 127.0.0.1:9: refused", last_error_at: NOW }), NOW),
    { state: "failing", text: "Failing: connect 127.0.0.1:9: refused" });
  assert.deepEqual(hookState(hook({ paused: true }), NOW), { state: "paused", text: "Paused" });
  assert.deepEqual(hookState(Object.assign(failing, { paused: true }), NOW), { state: "paused", text: "Paused — 3 waiting, sent when resumed" });
});

test("a delivery's state and details", () => {
  const d = { id: 9, event: "message.created", conv: 4, off: 2, created_at: NOW, attempts: 0, state: "pending", next_attempt_at: NOW + 8_000, last_status: null, last_error: null };
  assert.equal(deliveryState(d), "Waiting");
  assert.equal(deliveryDetail(d, NOW), "not sent yet · next attempt in 8s");
  Object.assign(d, { attempts: 2, last_status: 500, last_error: "HTTP 500: oops" });
  assert.equal(deliveryState(d), "Retrying");
  assert.equal(deliveryDetail(d, NOW + 9_000), "2 attempts · HTTP 500: oops · next attempt now");
  Object.assign(d, { attempts: 3, state: "delivered", last_status: 200, last_error: null, next_attempt_at: null });
  assert.equal(deliveryState(d), "Delivered");
  assert.equal(deliveryDetail(d, NOW), "3 attempts · HTTP 200");
  Object.assign(d, { state: "failed", last_status: null, last_error: "its entry no longer exists" });
  assert.equal(deliveryState(d), "Failed");
  assert.equal(deliveryDetail(d, NOW), "3 attempts · its entry no longer exists");
});
