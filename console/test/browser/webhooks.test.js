// The console's Webhooks section against a real kefu that delivers to a receiver in this
// test (private addresses allowed, the outbox read every 50 ms, retries given up after a
// few seconds): the bootstrap admin is refused a bad URL with the server's reason, adds a
// webhook through the form and sees its signing secret once (not after a reload, never in
// the API's list), pauses and resumes it (the API says so), sees its deliveries fail
// while the receiver answers 500 (the error as text), sends a failed one again once the
// receiver answers 200 (signed with the secret shown), and deletes webhooks with a second
// click; a URL with HTML in its path is shown as text.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import crypto from "node:crypto";
import { launch, waitFor, startConsoleServer, newConsolePage, signIn, widgetOnline } from "../support/console.js";

const ALL = [
  "conversation.opened", "conversation.assigned", "conversation.transferred", "conversation.closed",
  "conversation.reopened", "message.created", "offline_message.left",
];
// What the receiver answers while it is down: its first line is the delivery's error.
const DOWN = "<b>receiver down</b>";
const HOSTILE_PATH = '/x/<img/src="x"/onerror="window.__pwned=1">';

let browser, srv, receiver;
const got = []; // what the receiver was sent: {headers, body}
let answer = 500;
const contexts = [];

before(async () => {
  receiver = http.createServer((req, res) => {
    const parts = [];
    req.on("data", (d) => parts.push(d));
    req.on("end", () => {
      got.push({ url: req.url, headers: req.headers, body: Buffer.concat(parts).toString("utf8"), answered: answer });
      res.writeHead(answer, { "Content-Type": "text/plain" });
      res.end(answer === 200 ? "ok" : DOWN + "\nmore detail");
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  browser = await launch();
  srv = await startConsoleServer({
    env: {
      KEFU_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: "true",
      KEFU_WEBHOOK_POLL_MS: "50",
      KEFU_WEBHOOK_RETRY_FIRST_MS: "300",
      KEFU_WEBHOOK_RETRY_MAX_MS: "600",
      // Still failing this long after its event, a delivery is given up: "Send again".
      KEFU_WEBHOOK_RETRY_FOR_MS: "2500",
    },
  });
});
after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (receiver) await new Promise((resolve) => receiver.close(resolve));
});

const newPage = () => newConsolePage(browser, contexts);
const tokenOf = (page) => page.evaluate(() => JSON.parse(window.sessionStorage.getItem("kefu.console")).token);

// A REST call straight to kefu: {status, data}.
async function rest(method, pathname, token, body) {
  const headers = { Authorization: "Bearer " + token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(srv.direct + pathname, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let data = null;
  try {
    data = JSON.parse(text);
  } catch (e) {
    data = text;
  }
  return { status: r.status, data };
}

// The webhooks as listed: url, events, state line, buttons.
const listed = (page) => page.$$eval("#webhooks-list .hook-item", (els) => els.map((e) => ({
  id: Number(e.dataset.id),
  url: e.querySelector(".hook-url").textContent,
  events: e.querySelector(".hook-events-text").textContent,
  state: e.querySelector(".hook-state").textContent,
  buttons: [...e.querySelectorAll(".set-actions button")].map((b) => b.textContent),
})));

// Nothing of a server's text became an element or ran.
const injected = (page) => page.evaluate(() => ({
  elements: document.querySelectorAll("#settings img, #settings b, #app img, #app b").length,
  pwned: window.__pwned === undefined ? null : window.__pwned,
}));

test("console settings: webhooks added, paused, resumed, delivered, sent again, deleted", { timeout: 180000 }, async () => {
  const A = await newPage();
  const page = A.page;
  await A.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: srv.base });
  await signIn(page, srv.base, "admin@localhost", srv.password);
  const token = await tokenOf(page);
  await page.click("#settings-btn");
  await page.waitForSelector("#settings", { state: "visible" });
  await page.waitForSelector("#webhooks-list > .set-empty", { timeout: 10000 });
  assert.equal(await page.isVisible("#webhook-secret"), false, "no secret before one is made");
  const boxes = () => page.$$eval("#webhook-events input[type=checkbox]", (els) => els.map((e) => [e.value, e.checked]));
  assert.deepEqual(await boxes(), ALL.map((e) => [e, true]), "every event, all checked");
  assert.equal(await page.getAttribute("#webhook-url", "type"), "url");

  // A URL the server refuses: its reason, inline; nothing added.
  await page.fill("#webhook-url", "ftp://example.com/hook");
  await page.click("#webhook-add");
  await page.waitForSelector("#webhook-error", { state: "visible", timeout: 10000 });
  const refused = await rest("POST", "/v1/webhooks", token, { url: "ftp://example.com/hook", events: ALL });
  assert.equal(refused.status, 400, JSON.stringify(refused.data));
  assert.ok(refused.data.reason, "the refusal has a reason");
  assert.equal(await page.textContent("#webhook-error"), refused.data.reason, "the console shows the server's reason");
  assert.equal(await page.inputValue("#webhook-url"), "ftp://example.com/hook", "the refused form keeps its input");
  assert.equal(await page.locator("#webhooks-list .hook-item").count(), 0);
  // No event: said here, nothing sent.
  const receiverUrl = `http://127.0.0.1:${receiver.address().port}/hook`;
  await page.fill("#webhook-url", receiverUrl);
  for (const e of ALL) await page.uncheck(`#webhook-events input[value="${e}"]`);
  await page.click("#webhook-add");
  await page.waitForFunction(() => document.getElementById("webhook-error").textContent === "Choose at least one event.", null, { timeout: 5000 });
  for (const e of ALL) await page.check(`#webhook-events input[value="${e}"]`);

  // Added: the secret once, in its box, with how deliveries are signed.
  await page.click("#webhook-add");
  await page.waitForSelector("#webhook-secret", { state: "visible", timeout: 10000 });
  assert.equal(await page.isVisible("#webhook-error"), false);
  const secret = await page.inputValue("#webhook-secret-value");
  assert.match(secret, /^whsec_/);
  assert.equal(await page.textContent("#webhook-secret-url"), receiverUrl);
  const box = await page.textContent("#webhook-secret");
  assert.ok(box.includes("it will not be shown again"), box);
  assert.ok(box.includes('Deliveries carry kefu-signature: t=…,v1=HMAC-SHA256 of "t.body" — see docs/operations.md'), box);
  assert.equal(await page.evaluate(() => document.activeElement.id), "webhook-secret-copy", "Copy has the focus");
  assert.equal(await page.inputValue("#webhook-url"), "", "the form is cleared after adding");
  await page.click("#webhook-secret-copy");
  await page.waitForFunction(() => document.getElementById("webhook-secret-copy").textContent === "Copied", null, { timeout: 5000 });
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret, "Copy put the secret on the clipboard");
  await page.waitForSelector("#webhooks-list .hook-item", { timeout: 10000 });
  let hooks = await listed(page);
  assert.equal(hooks.length, 1);
  assert.deepEqual(hooks[0], {
    id: hooks[0].id, url: receiverUrl, events: "All events", state: "Waiting for the first event",
    buttons: ["Pause", "Deliveries", "Delete"],
  });
  const id = hooks[0].id;
  let api = await rest("GET", "/v1/webhooks", token);
  assert.equal(api.status, 200);
  assert.deepEqual(api.data.webhooks.map((w) => [w.id, w.url, w.events, w.paused]), [[id, receiverUrl, ALL, false]]);
  assert.ok(!JSON.stringify(api.data).includes(secret), "the list never carries the secret");

  // Not shown again: not after a reload, nor when Settings opens again.
  await page.reload();
  await page.waitForSelector('#conn[data-state="online"]', { timeout: 15000 });
  await page.click("#settings-btn");
  await page.waitForSelector("#webhooks-list .hook-item", { timeout: 10000 });
  assert.equal(await page.isVisible("#webhook-secret"), false, "no secret after a reload");
  const anywhere = (s) => page.evaluate((s) => document.documentElement.outerHTML.includes(s)
    || [...document.querySelectorAll("input, textarea")].some((i) => i.value.includes(s)), s);
  assert.equal(await anywhere(secret), false, "the secret is nowhere on the page");

  // Pause, then resume: the server says so each time.
  const item = page.locator(`#webhooks-list .hook-item[data-id="${id}"]`);
  await item.locator(".hook-pause").click();
  await page.waitForFunction((id) => {
    const li = document.querySelector(`#webhooks-list .hook-item[data-id="${id}"]`);
    return li && li.querySelector(".hook-state").textContent === "Paused" && li.querySelector(".hook-pause").textContent === "Resume";
  }, id, { timeout: 10000 });
  api = await rest("GET", "/v1/webhooks", token);
  assert.equal(api.data.webhooks[0].paused, true, "paused on the server");
  assert.equal(await item.getAttribute("data-state"), "paused");
  await item.locator(".hook-pause").click();
  await page.waitForFunction((id) => {
    const li = document.querySelector(`#webhooks-list .hook-item[data-id="${id}"]`);
    return li && li.querySelector(".hook-pause").textContent === "Pause";
  }, id, { timeout: 10000 });
  api = await rest("GET", "/v1/webhooks", token);
  assert.equal(api.data.webhooks[0].paused, false, "resumed on the server");
  assert.equal((await listed(page))[0].state, "Waiting for the first event");

  // Its deliveries, shown before there is any.
  await item.locator(".hook-show").click();
  await page.waitForSelector(`#hook-deliveries-${id} .set-empty`, { timeout: 10000 });
  assert.equal(await item.locator(".hook-show").getAttribute("aria-expanded"), "true");
  assert.equal(await item.locator(".hook-show").textContent(), "Hide deliveries");

  // A visitor writes while the receiver is down: the deliveries fail, then are given up.
  const V = await newPage();
  await V.page.goto(srv.base + "/demo?from=webhooks-test");
  await widgetOnline(V.page);
  await V.page.evaluate(() => window.kefu("send", "Hello, webhooks"));
  await waitFor(() => got.some((r) => r.headers["kefu-event"] === "message.created"), 15000, "the message's delivery");
  await page.waitForFunction((down) => {
    const s = document.querySelector("#webhooks-list .hook-item .hook-state");
    return s && s.dataset.state === "failing" && s.textContent.startsWith("Failing: HTTP 500: " + down);
  }, DOWN, { timeout: 20000 });
  const failedRow = page.locator(`#hook-deliveries-${id} .hook-delivery[data-state="failed"]`, { hasText: "New message" });
  await failedRow.waitFor({ timeout: 20000 });
  const detail = await failedRow.locator(".hook-delivery-detail").textContent();
  assert.match(detail, /^\d+ attempts? · HTTP 500: <b>receiver down<\/b>/, detail);
  assert.match(await failedRow.locator(".hook-delivery-state").textContent(), /^Failed$/);
  assert.deepEqual(await injected(page), { elements: 0, pwned: null }, "the receiver's error is text");
  const deliveryId = Number(await failedRow.getAttribute("data-id"));
  const listedApi = (await rest("GET", `/v1/webhooks/${id}/deliveries?limit=20`, token)).data.deliveries;
  const failed = listedApi.find((d) => d.id === deliveryId);
  assert.ok(failed && failed.state === "failed" && failed.event === "message.created" && failed.last_status === 500, JSON.stringify(listedApi));

  // The receiver is back: "Send again" delivers it, signed with the secret shown at first.
  answer = 200;
  const before = got.length;
  await failedRow.locator(".hook-retry").click();
  await page.waitForSelector(`#hook-deliveries-${id} .hook-delivery[data-id="${deliveryId}"][data-state="delivered"]`, { timeout: 20000 });
  const delivered = (await rest("GET", `/v1/webhooks/${id}/deliveries?limit=20`, token)).data.deliveries.find((d) => d.id === deliveryId);
  assert.equal(delivered.state, "delivered");
  assert.equal(delivered.last_status, 200);
  const sent = got.slice(before).find((r) => r.answered === 200 && r.headers["kefu-delivery"] === String(deliveryId));
  assert.ok(sent, "the receiver had it");
  const sig = Object.fromEntries(sent.headers["kefu-signature"].split(",").map((p) => p.split("=")));
  const want = crypto.createHmac("sha256", secret).update(sig.t + "." + sent.body).digest("hex");
  assert.equal(sig.v1, want, "signed with the secret the console showed");
  assert.equal(JSON.parse(sent.body).entry.body, "Hello, webhooks");
  await page.waitForFunction(() => /^Delivering — last success (just now|\d+s ago)/.test(document.querySelector("#webhooks-list .hook-item .hook-state").textContent), null, { timeout: 20000 });

  // A URL with HTML in it, for one event: listed as text.
  const hostileUrl = `http://127.0.0.1:${receiver.address().port}${HOSTILE_PATH}`;
  await page.fill("#webhook-url", hostileUrl);
  for (const e of ALL) if (e !== "offline_message.left") await page.uncheck(`#webhook-events input[value="${e}"]`);
  await page.click("#webhook-add");
  await page.waitForSelector("#webhook-secret", { state: "visible", timeout: 10000 });
  assert.equal(await page.textContent("#webhook-secret-url"), hostileUrl);
  await page.waitForFunction(() => document.querySelectorAll("#webhooks-list .hook-item").length === 2, null, { timeout: 10000 });
  hooks = await listed(page);
  assert.deepEqual(hooks.map((h) => [h.url, h.events]), [[receiverUrl, "All events"], [hostileUrl, "Offline message left"]]);
  assert.deepEqual(await injected(page), { elements: 0, pwned: null }, "the URL is text");
  assert.deepEqual(await boxes(), ALL.map((e) => [e, true]), "all checked again after adding");
  api = await rest("GET", "/v1/webhooks", token);
  assert.deepEqual(api.data.webhooks.map((w) => [w.url, w.events]), [[receiverUrl, ALL], [hostileUrl, ["offline_message.left"]]]);

  // Deleting asks for a second click; the secret of the deleted one goes too.
  const hostile = page.locator(`#webhooks-list .hook-item[data-id="${hooks[1].id}"]`);
  await hostile.locator(".set-delete").click();
  assert.equal(await hostile.locator(".set-delete").textContent(), "Really delete?");
  assert.equal((await rest("GET", "/v1/webhooks", token)).data.webhooks.length, 2, "nothing deleted by one click");
  await hostile.locator(".set-delete").click();
  await hostile.waitFor({ state: "detached", timeout: 10000 });
  assert.equal(await page.isVisible("#webhook-secret"), false);
  await item.locator(".set-delete").click();
  await item.locator(".set-delete").click();
  await page.waitForSelector("#webhooks-list > .set-empty", { timeout: 10000 });
  assert.deepEqual((await rest("GET", "/v1/webhooks", token)).data.webhooks, []);
  await page.click("#settings-close");
  await page.waitForSelector("#settings", { state: "hidden" });

  for (const p of [A, V]) {
    assert.deepEqual(p.rec.errors, [], "page errors");
    assert.deepEqual(p.rec.dialogs, [], "dialogs");
  }
  assert.deepEqual(A.rec.csp, [], "no CSP violations in the console");
});
