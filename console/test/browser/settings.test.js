// The console's Settings panel, canned responses and reopening, against a real kefu: the
// bootstrap admin adds canned responses and an automatic invitation rule in Settings (a
// taken shortcut shows the server's 409 reason); a visitor on the demo page is invited by
// the rule, with nobody clicking, and accepts; the admin answers with a canned response
// picked from the "/" suggestions, closes the conversation, reopens it, and the visitor's
// next message lands in the same conversation. A plain agent has no Settings button but
// uses the suggestions (arrows, Enter, Escape, the Canned button). Deleting works. A refused
// reopen is explained; after a reload, a closed conversation is found by a message search
// and reopened from there.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, waitFor, startConsoleServer, newConsolePage, signIn, widgetOnline, paneBodies, widgetBodies } from "../support/console.js";

const PLAIN = { email: "pat@x", name: "Pat", password: "pw-pat-12345678" };
const HELLO = "Hello! Thanks for stopping by — how can I help you today?";
// A hostile canned text: it must stay text in the settings list and in the suggestions.
const BYE = '<img src=x onerror="window.__pwned=1">Bye <b>for now</b>!';
const RULE_TEXT = "Browsing our demo? Ask me anything.";

let browser, srv;
const contexts = [];
before(async () => {
  browser = await launch();
  srv = await startConsoleServer({ agents: [PLAIN] });
});
after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

const newPage = () => newConsolePage(browser, contexts);
const tokenOf = (page) => page.evaluate(() => JSON.parse(window.sessionStorage.getItem("kefu.console")).token);
const frames = (p) => p.sent.map((x) => JSON.parse(x));

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

// The suggestion list as shown: shortcuts, which one is selected, and the reply box's
// accessibility state.
const suggestions = (page) => page.evaluate(() => {
  const ul = document.getElementById("canned-suggest");
  const input = document.getElementById("composer-input");
  const opts = [...ul.querySelectorAll('[role="option"]')];
  return {
    open: !ul.hidden,
    shortcuts: opts.map((o) => o.querySelector(".canned-short").textContent),
    selected: opts.filter((o) => o.getAttribute("aria-selected") === "true").map((o) => o.querySelector(".canned-short").textContent),
    active: (() => {
      const el = document.getElementById(input.getAttribute("aria-activedescendant") || "");
      return el && ul.contains(el) ? el.querySelector(".canned-short").textContent : null;
    })(),
    activedescendant: input.getAttribute("aria-activedescendant"),
    button: document.getElementById("canned-btn").getAttribute("aria-expanded"),
    value: input.value,
  };
});

test("console settings: canned responses, automatic invitation, reopen; a plain agent", { timeout: 240000 }, async () => {
  // The bootstrap admin signs in and opens Settings: nothing there yet.
  const A = await newPage();
  const apage = A.page;
  await signIn(apage, srv.base, "admin@localhost", srv.password);
  const tokenA = await tokenOf(apage);
  await apage.waitForSelector("#settings-btn", { state: "visible" });
  // (The Canned button sits in the chat pane, shown once a conversation is open.)
  assert.equal(await apage.getAttribute("#canned-btn", "hidden"), "", "no Canned button without canned responses");
  await apage.click("#settings-btn");
  await apage.waitForSelector("#settings", { state: "visible" });
  await apage.waitForSelector("#canned-list .set-empty", { timeout: 10000 });
  await apage.waitForSelector("#rules-list .set-empty", { timeout: 10000 });

  // Two canned responses through the form.
  const addCanned = async (shortcut, text) => {
    await apage.fill("#canned-shortcut", shortcut);
    await apage.fill("#canned-text", text);
    await apage.click("#canned-add");
  };
  await addCanned("hello", HELLO);
  await apage.waitForSelector('#canned-list .set-item[data-shortcut="hello"]', { timeout: 10000 });
  assert.equal(await apage.inputValue("#canned-shortcut"), "", "the form is cleared after adding");
  await addCanned("bye", BYE);
  await apage.waitForSelector('#canned-list .set-item[data-shortcut="bye"]', { timeout: 10000 });
  assert.equal(await apage.isVisible("#canned-error"), false);
  const listed = await apage.$$eval("#canned-list .set-item", (els) => els.map((e) => [e.querySelector(".set-title").textContent, e.querySelector(".set-text").textContent]));
  assert.deepEqual(listed, [["/bye", BYE], ["/hello", HELLO]], "listed by shortcut, as text");

  // The same shortcut again: the server's refusal is shown inline, nothing is added.
  await addCanned("hello", "Another hello");
  await apage.waitForSelector("#canned-error", { state: "visible", timeout: 10000 });
  const shown = await apage.textContent("#canned-error");
  const dup = await rest("POST", "/v1/canned", tokenA, { shortcut: "hello", text: "Another hello" });
  assert.equal(dup.status, 409, "a taken shortcut is a conflict: " + JSON.stringify(dup.data));
  assert.equal(dup.data.error, "conflict");
  assert.ok(dup.data.reason, "the refusal has a reason");
  assert.equal(shown, dup.data.reason, "the console shows the server's reason");
  assert.equal(await apage.inputValue("#canned-shortcut"), "hello", "the refused form keeps its input");
  assert.equal(await apage.locator("#canned-list .set-item").count(), 2);
  const canned = await rest("GET", "/v1/canned", tokenA);
  assert.deepEqual(canned.data.canned.map((c) => [c.shortcut, c.text]), [["bye", BYE], ["hello", HELLO]]);
  await apage.fill("#canned-shortcut", "");
  await apage.fill("#canned-text", "");

  // An automatic invitation for the demo page, after a second there, from the first visit.
  await apage.fill("#rule-name", "Demo visitors");
  await apage.fill("#rule-url", "*/demo*");
  await apage.fill("#rule-seconds", "1");
  await apage.fill("#rule-visits", "0");
  await apage.fill("#rule-text", RULE_TEXT);
  await apage.click("#rule-add");
  await apage.waitForSelector("#rules-list .set-item", { timeout: 10000 });
  assert.equal(await apage.isVisible("#rule-error"), false);
  const ruleText = await apage.textContent("#rules-list .set-item");
  for (const part of ["Demo visitors", "*/demo*", "after 1 second on the page", "at least 0 visits", RULE_TEXT]) {
    assert.ok(ruleText.includes(part), `the rule shows "${part}": ${ruleText}`);
  }
  const rules = await rest("GET", "/v1/rules", tokenA);
  assert.equal(rules.data.rules.length, 1);
  const rule = rules.data.rules[0];
  assert.deepEqual([rule.name, rule.url, rule.min_seconds, rule.min_visits, rule.text], ["Demo visitors", "*/demo*", 1, 0, RULE_TEXT]);
  await apage.keyboard.press("Escape");
  await apage.waitForSelector("#settings", { state: "hidden" });
  await apage.waitForSelector("#canned-btn:not([hidden])", { state: "attached", timeout: 10000 });

  // A visitor opens the demo page and is invited by the rule, with nobody clicking.
  const V = await newPage();
  const vpage = V.page;
  await vpage.goto(srv.base + "/demo?from=settings-test");
  await widgetOnline(vpage);
  await vpage.waitForSelector(".kf-inv", { state: "visible", timeout: 20000 });
  const inv = await vpage.textContent(".kf-inv");
  assert.ok(inv.includes(RULE_TEXT), "the rule's text: " + inv);
  assert.ok(inv.includes("Admin"), "in the name of the available agent: " + inv);
  assert.ok(!frames(A).some((f) => f.t === "invite"), "the console sent no invitation");
  // The console marks the visitor as invited.
  const card = apage.locator(".visitor", { hasText: "/demo?from=settings-test" });
  await card.locator(".meta.invited").waitFor({ timeout: 10000 });
  assert.match(await card.locator(".meta.invited").textContent(), /^invited (just now|\d+s ago)$/);

  // The visitor accepts: the admin has the conversation, the invitation first.
  await vpage.click(".kf-yes");
  await vpage.waitForSelector(".kf-win", { state: "visible" });
  const item = apage.locator(".conv-item").first();
  await item.waitFor({ timeout: 15000 });
  const convId = Number(await item.getAttribute("data-conv"));
  assert.ok(convId > 0);
  if (!(await apage.isVisible("#chat-main"))) await item.click();
  await apage.waitForFunction((t) => [...document.querySelectorAll("#msg-list .msg-body")].some((e) => e.textContent === t), RULE_TEXT, { timeout: 15000 });

  // "/hel" suggests /hello only; Tab takes it; Enter sends it.
  await apage.click("#composer-input");
  await apage.keyboard.type("/hel", { delay: 30 });
  await apage.waitForSelector("#canned-suggest", { state: "visible", timeout: 5000 });
  let s = await suggestions(apage);
  assert.deepEqual(s.shortcuts, ["/hello"], "filtered by what follows the slash");
  assert.deepEqual(s.selected, ["/hello"]);
  assert.equal(s.active, "/hello", "aria-activedescendant names the selected option");
  assert.match(await apage.textContent("#canned-suggest .canned-preview"), /^Hello! Thanks/, "a preview of the text");
  await apage.keyboard.press("Tab");
  s = await suggestions(apage);
  assert.equal(s.open, false, "picking closes the list");
  assert.equal(s.activedescendant, null, "no active option once closed");
  assert.equal(s.value, HELLO, "the box holds the canned text");
  assert.equal(await apage.evaluate(() => document.activeElement.id), "composer-input", "the focus stays in the box");
  await apage.keyboard.press("Enter");
  await vpage.waitForFunction((t) => [...document.querySelectorAll(".kf-list .kf-them .kf-t")].some((e) => e.textContent === t), HELLO, { timeout: 10000 });
  const msgs = () => frames(A).filter((f) => f.t === "msg").map((f) => f.body);
  assert.deepEqual(msgs(), [HELLO], "only the canned text was sent");

  // Close, then reopen the same conversation.
  await apage.click("#close-btn");
  await apage.waitForSelector("#msg-list .sys.close", { timeout: 10000 });
  await apage.waitForSelector("#chat-closed", { state: "visible" });
  assert.equal(await apage.isVisible("#composer"), false);
  await vpage.waitForSelector(".kf-sys", { timeout: 10000 });
  await waitFor(async () => !(await rest("GET", "/v1/conversations", tokenA)).data.conversations.some((c) => c.conv === convId), 10000, "the conversation closed on the server");
  await apage.click("#reopen-btn");
  await apage.waitForSelector("#msg-list .sys.reopen", { timeout: 10000 });
  assert.match(await apage.textContent("#msg-list .sys.reopen"), /^Admin reopened the conversation · /);
  await apage.waitForSelector("#chat-closed", { state: "hidden", timeout: 5000 });
  await apage.waitForSelector("#composer", { state: "visible" });
  assert.equal(await apage.isDisabled("#close-btn"), false);
  assert.ok(frames(A).some((f) => f.t === "reopen" && f.conv === convId), "the reopen frame");
  await apage.waitForFunction((id) => {
    const g = [...document.querySelectorAll(".conv-group")].find((x) => x.querySelector(`[data-conv="${id}"]`));
    return g && /^Mine/.test(g.querySelector(".conv-group-title").textContent);
  }, convId, { timeout: 10000 });
  const open = (await rest("GET", "/v1/conversations", tokenA)).data.conversations.find((c) => c.conv === convId);
  assert.ok(open, "open again on the server");
  const adminId = await apage.evaluate(() => JSON.parse(window.sessionStorage.getItem("kefu.console")).agent.id);
  assert.equal(String(open.owner).replace(/^a/, ""), String(adminId), "assigned to the agent who reopened it");

  // The visitor writes: it lands in the same conversation, shown in the same pane.
  await vpage.click(".kf-in");
  await vpage.keyboard.type("I am back with one more question", { delay: 10 });
  await vpage.keyboard.press("Enter");
  await apage.waitForFunction(() => [...document.querySelectorAll("#msg-list .msg.in .msg-body")].some((e) => e.textContent === "I am back with one more question"), null, { timeout: 15000 });
  assert.match(await apage.textContent("#chat-sub"), new RegExp("^#" + convId + " "), "the same conversation in the pane");
  assert.deepEqual(await apage.$$eval(".conv-item", (els) => els.map((e) => Number(e.dataset.conv))), [convId], "no new conversation");
  const entries = (await rest("GET", `/v1/conversations/${convId}/entries?after=0`, tokenA)).data.entries;
  const kinds = entries.map((e) => e.kind + (e.kind === "msg" ? ":" + e.body : ""));
  const at = (k) => kinds.indexOf(k);
  assert.ok(at("close") > at("msg:" + HELLO) && at("reopen") > at("close") && at("msg:I am back with one more question") > at("reopen"),
    "close, reopen, then the visitor's message, in the one conversation: " + JSON.stringify(kinds));
  assert.deepEqual(await paneBodies(apage), [RULE_TEXT, HELLO, "I am back with one more question"]);
  assert.deepEqual((await widgetBodies(vpage)).filter((b) => b === HELLO), [HELLO], "the visitor saw the canned text once");

  // A plain agent: no Settings, no site changes, but the canned responses.
  const B = await newPage();
  const bpage = B.page;
  await signIn(bpage, srv.base, PLAIN.email, PLAIN.password);
  assert.equal(await bpage.getAttribute("#settings-btn", "hidden"), "", "no Settings button for an agent");
  assert.equal(await bpage.isVisible("#settings-btn"), false);
  const tokenB = await tokenOf(bpage);
  const refused = await rest("POST", "/v1/canned", tokenB, { shortcut: "mine", text: "Not allowed" });
  assert.equal(refused.status, 403, "agents cannot add canned responses: " + JSON.stringify(refused.data));
  await bpage.waitForSelector("#canned-btn:not([hidden])", { state: "attached", timeout: 10000 });
  const bItem = bpage.locator(`.conv-item[data-conv="${convId}"]`);
  await bItem.waitFor({ timeout: 15000 });
  await bItem.click();
  await bpage.waitForFunction(() => /one more question/.test(document.getElementById("msg-list").textContent), null, { timeout: 15000 });

  // "/" lists both; the arrows move the selection; Enter takes it and sends nothing.
  await bpage.click("#composer-input");
  await bpage.keyboard.type("/");
  await bpage.waitForSelector("#canned-suggest", { state: "visible", timeout: 5000 });
  s = await suggestions(bpage);
  assert.deepEqual(s.shortcuts, ["/bye", "/hello"]);
  assert.deepEqual(s.selected, ["/bye"]);
  await bpage.keyboard.press("ArrowDown");
  s = await suggestions(bpage);
  assert.deepEqual(s.selected, ["/hello"]);
  assert.equal(s.active, "/hello");
  await bpage.keyboard.press("ArrowDown"); // wraps around
  assert.deepEqual((await suggestions(bpage)).selected, ["/bye"]);
  await bpage.keyboard.press("ArrowUp");
  assert.deepEqual((await suggestions(bpage)).selected, ["/hello"]);
  await bpage.keyboard.press("Enter");
  s = await suggestions(bpage);
  assert.equal(s.value, HELLO, "Enter takes the suggestion");
  assert.equal(s.open, false);
  assert.equal(await bpage.locator("#msg-list .msg.self").count(), 0, "Enter on a suggestion sends nothing");

  // Escape closes the list and keeps what was typed; typing on opens it again.
  await bpage.fill("#composer-input", "");
  await bpage.keyboard.type("/b");
  await bpage.waitForSelector("#canned-suggest", { state: "visible", timeout: 5000 });
  assert.deepEqual((await suggestions(bpage)).shortcuts, ["/bye"]);
  await bpage.keyboard.press("Escape");
  s = await suggestions(bpage);
  assert.equal(s.open, false);
  assert.equal(s.value, "/b");
  await bpage.keyboard.type("y");
  await bpage.waitForSelector("#canned-suggest", { state: "visible", timeout: 5000 });
  await bpage.keyboard.press("Escape");
  // No match, no list.
  await bpage.fill("#composer-input", "");
  await bpage.keyboard.type("/zzz");
  assert.equal((await suggestions(bpage)).open, false, "no list without a match");

  // The Canned button lists everything; a click inserts the text, as text.
  await bpage.fill("#composer-input", "");
  await bpage.click("#canned-btn");
  await bpage.waitForSelector("#canned-suggest", { state: "visible", timeout: 5000 });
  s = await suggestions(bpage);
  assert.deepEqual(s.shortcuts, ["/bye", "/hello"]);
  assert.equal(s.button, "true", "the button says its list is open");
  await bpage.click('#canned-suggest [data-shortcut="bye"]');
  s = await suggestions(bpage);
  assert.equal(s.value, BYE);
  assert.equal(s.open, false);
  assert.equal(s.button, "false");
  const injected = await bpage.evaluate(() => ({
    elements: document.querySelectorAll("#app img, #app b").length,
    pwned: window.__pwned === undefined ? null : window.__pwned,
  }));
  assert.deepEqual(injected, { elements: 0, pwned: null });
  await bpage.fill("#composer-input", "");
  // The visitor's card shows the invitation to every agent.
  assert.match(await bpage.locator(".visitor .meta.invited").first().textContent(), /^invited /);

  // The admin deletes the rule and one canned response.
  await apage.click("#settings-btn");
  await apage.waitForSelector("#settings", { state: "visible" });
  await apage.click("#rules-list .set-item .set-delete");
  await apage.waitForSelector("#rules-list .set-empty", { timeout: 10000 });
  await apage.click('#canned-list .set-item[data-shortcut="bye"] .set-delete');
  await apage.waitForSelector('#canned-list .set-item[data-shortcut="bye"]', { state: "detached", timeout: 10000 });
  assert.deepEqual((await rest("GET", "/v1/rules", tokenA)).data.rules, []);
  assert.deepEqual((await rest("GET", "/v1/canned", tokenA)).data.canned.map((c) => c.shortcut), ["hello"]);
  const adminInjected = await apage.evaluate(() => ({
    elements: document.querySelectorAll("#app img, #app b, #settings img, #settings b").length,
    pwned: window.__pwned === undefined ? null : window.__pwned,
  }));
  assert.deepEqual(adminInjected, { elements: 0, pwned: null });
  await apage.click("#settings-close");
  await apage.waitForSelector("#settings", { state: "hidden" });

  // Closed again, and the visitor's next message opens a new conversation: reopening the
  // old one is refused, and the console says so.
  await apage.click("#close-btn");
  await apage.waitForSelector("#chat-closed", { state: "visible", timeout: 10000 });
  await vpage.evaluate(() => window.kefu("send", "A new question"));
  await waitFor(async () => (await rest("GET", "/v1/conversations", tokenA)).data.conversations.some((c) => c.conv !== convId), 15000, "a new conversation");
  assert.match(await apage.textContent("#chat-sub"), new RegExp("^#" + convId + " "), "the old conversation is still in the pane");
  const before = frames(A).filter((f) => f.t === "reopen").length;
  await apage.click("#reopen-btn");
  await apage.locator(".toast.bad", { hasText: "Could not reopen the conversation" }).waitFor({ timeout: 10000 });
  assert.equal(frames(A).filter((f) => f.t === "reopen" && f.conv === convId).length, before + 1);
  assert.equal(await apage.isVisible("#chat-closed"), true, "still closed");
  assert.equal(await apage.isDisabled("#reopen-btn"), false, "the button can be used again");

  // Both closed, and the console reloaded: closed conversations are not listed any more, but
  // a message search finds the first one; opened from there, it can be reopened.
  const conv2 = (await rest("GET", "/v1/conversations", tokenA)).data.conversations.find((c) => c.conv !== convId).conv;
  await apage.locator(`.conv-item[data-conv="${conv2}"]`).click({ timeout: 15000 });
  await apage.waitForFunction((id) => document.getElementById("chat-sub").textContent.startsWith("#" + id + " "), conv2, { timeout: 5000 });
  await apage.waitForFunction(() => /A new question/.test(document.getElementById("msg-list").textContent), null, { timeout: 10000 });
  await apage.click("#close-btn");
  await apage.waitForSelector("#chat-closed", { state: "visible", timeout: 10000 });
  await waitFor(async () => (await rest("GET", "/v1/conversations", tokenA)).data.conversations.length === 0, 10000, "no open conversation");
  await apage.reload();
  await apage.waitForSelector('#conn[data-state="online"]', { timeout: 15000 });
  await apage.fill("#search-input", "one more question");
  await apage.press("#search-input", "Enter");
  const hit = apage.locator(`#search-list .search-hit[data-conv="${convId}"]`);
  await hit.waitFor({ timeout: 10000 });
  assert.equal(await apage.textContent("#search-summary"), "1 message with “one more question”");
  assert.equal(await apage.isVisible("#conv-list"), false, "the results stand in for the list");
  await hit.click();
  await apage.waitForFunction((id) => document.getElementById("chat-sub").textContent.startsWith("#" + id + " "), convId, { timeout: 5000 });
  await apage.waitForSelector("#chat-closed", { state: "visible", timeout: 10000 });
  await apage.click("#reopen-btn");
  await apage.waitForFunction(() => document.querySelectorAll("#msg-list .sys.reopen").length === 2, null, { timeout: 10000 });
  await apage.waitForSelector("#chat-closed", { state: "hidden", timeout: 5000 });
  assert.ok((await rest("GET", "/v1/conversations", tokenA)).data.conversations.some((c) => c.conv === convId), "open again on the server");
  await apage.click("#search-clear");
  await apage.waitForSelector("#search-results", { state: "hidden" });
  assert.equal(await apage.inputValue("#search-input"), "");
  await apage.waitForFunction((id) => {
    const g = [...document.querySelectorAll(".conv-group")].find((x) => x.querySelector(`.conv-item[data-conv="${id}"]`));
    return g && /^Mine/.test(g.querySelector(".conv-group-title").textContent);
  }, convId, { timeout: 10000 });

  for (const p of [A, B, V]) {
    assert.deepEqual(p.rec.errors, [], "page errors");
    assert.deepEqual(p.rec.dialogs, [], "dialogs");
  }
  assert.deepEqual(A.rec.csp.concat(B.rec.csp), [], "no CSP violations in the console");
  assert.deepEqual(V.rec.csp, [], "no CSP violations on the demo page");
});
