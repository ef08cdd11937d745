// The agent console's Take action: a chat that waits in the queue (the only agent is at
// capacity) is taken with one click; the visitor's widget says who joined.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, startConsoleServer, newConsolePage, signIn, widgetOnline } from "../support/console.js";

let browser, srv;
const contexts = [];
before(async () => {
  browser = await launch();
  srv = await startConsoleServer({ env: { KEFU_IDLE_CLOSE_MS: "0", KEFU_AGENT_CAPACITY: "1" } });
});
after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test("agent console: Take a waiting chat", { timeout: 120000 }, async () => {
  const A = await newConsolePage(browser, contexts);
  const apage = A.page;
  await signIn(apage, srv.base, "admin@localhost", srv.password);

  // A first visitor takes the agent's only place; a second one waits.
  const visitor = async (text) => {
    const V = await newConsolePage(browser, contexts);
    await V.page.goto(srv.base + "/demo");
    await widgetOnline(V.page);
    await V.page.click(".kf-btn");
    await V.page.click(".kf-in");
    await V.page.keyboard.type(text);
    await V.page.keyboard.press("Enter");
    return V;
  };
  const first = await visitor("First in line");
  await first.page.waitForFunction(() => /joined the chat/.test(document.body.textContent), null, { timeout: 15000 });
  const V = await visitor("Is anyone there?");
  const vpage = V.page;
  await vpage.waitForFunction(() => /number 1/.test(document.body.textContent), null, { timeout: 15000 });

  // The console lists it under Waiting (it looks for waiting chats when it starts).
  await apage.reload();
  await apage.waitForSelector('#conn[data-state="online"]', { timeout: 15000 });
  const item = apage.locator(".conv-item", { hasText: "Is anyone there?" });
  await item.waitFor({ timeout: 15000 });
  await item.click();
  await apage.waitForSelector("#take-btn", { state: "visible", timeout: 10000 });
  assert.match(await apage.textContent("#chat-sub"), /unassigned/);
  await apage.click("#take-btn");

  // Taken: the header says so, the button goes, and the visitor sees who joined.
  await apage.waitForFunction(() => /assigned to you/.test(document.getElementById("chat-sub").textContent), null, { timeout: 15000 });
  await apage.waitForSelector("#take-btn", { state: "hidden", timeout: 5000 });
  await vpage.waitForFunction(() => [...document.querySelectorAll(".kf-sys")].some((n) => n.textContent === "Admin joined the chat"), null, { timeout: 15000 });
  assert.ok(!/number 1/.test(await vpage.textContent(".kf-win")), "no longer waiting");
  const sentTake = A.sent.filter((s) => /"t":"take"/.test(s));
  assert.equal(sentTake.length, 1, "one take frame");
  assert.deepEqual(A.rec.errors, []);
  assert.deepEqual(V.rec.errors, []);
  assert.deepEqual(A.rec.csp, [], "no CSP violations in the console");
});
