// The widget against a server that answers garbage, a fatal error frame, or redirects,
// in each transport mode: it must show a clear state, retry at a sane pace (or stop, on
// a 41xx code), throw nothing into the page, and leave the page's own scripts working.
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { waitFor } = require("../support/kefu");
const { startBadServer } = require("../support/bad-server");
const { launch, openPage, widgetState } = require("../support/browser");

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  if (browser) await browser.close();
});

async function scenario(behaviour, mode, check) {
  const srv = await startBadServer(behaviour);
  const pg = await openPage(browser, mode);
  try {
    const { page, rec } = pg;
    await page.goto(srv.base + "/demo");
    await page.waitForFunction(() => window.kefu && window.kefu._w && window.kefu._w.session, null, { timeout: 10000 });
    await check(page, srv);
    // The page's own script works, and the widget API never throws into it.
    await page.click("button.add");
    await page.click("button.add");
    assert.equal(await page.textContent("#cart-count"), "2");
    await page.evaluate(() => {
      window.kefu("open");
      window.kefu("send", "hello?");
      window.kefu("identify", { id: 7 });
      window.kefu("no-such-command");
    });
    assert.equal(await page.getAttribute(".kf-me", "data-state"), "sending", "kept, not lost");
    assert.deepEqual(rec.errors, [], "no page errors");
  } finally {
    await pg.context.close();
    await srv.close();
  }
}

for (const mode of ["ws", "lp", "jsonp"]) {
  test(`garbage answers (${mode}): offline state, retries with backoff`, { timeout: 60000 }, async () => {
    await scenario("garbage", mode, async (page, srv) => {
      await waitFor(async () => (await widgetState(page)).state === "offline", 20000, "offline state");
      const a0 = srv.attempts();
      assert.ok(a0 >= 1, "it tried");
      await page.waitForTimeout(5000);
      const a1 = srv.attempts();
      assert.ok(a1 > a0, `it keeps retrying (${a0} -> ${a1})`);
      assert.ok(a1 - a0 <= 15, `but not in a tight loop: ${a1 - a0} attempts in 5 s`);
      await page.click(".kf-btn");
      assert.match(await page.textContent(".kf-ban"), /Connection lost/);
      assert.ok(await page.isVisible(".kf-retry"), "a retry-now button");
      assert.match(await page.textContent(".kf-st"), /Reconnecting/);
    });
  });

  test(`a fatal close code 4101 (${mode}): clear error, no more retries`, { timeout: 60000 }, async () => {
    await scenario("fatal", mode, async (page, srv) => {
      await waitFor(async () => (await widgetState(page)).state === "error", 20000, "error state");
      const s = await widgetState(page);
      assert.equal(s.code, 4101);
      const a0 = srv.attempts();
      await page.waitForTimeout(3000);
      await page.evaluate(() => window.dispatchEvent(new Event("online")));
      await page.waitForTimeout(500);
      assert.equal(srv.attempts(), a0, "stopped for good");
      await page.click(".kf-btn");
      assert.match(await page.textContent(".kf-ban"), /unknown site key/);
    });
  });

  test(`redirects (${mode}): offline state, retries with backoff`, { timeout: 60000 }, async () => {
    await scenario("redirect", mode, async (page, srv) => {
      await waitFor(async () => (await widgetState(page)).state === "offline", 20000, "offline state");
      const a0 = srv.attempts();
      await page.waitForTimeout(4000);
      const a1 = srv.attempts();
      assert.ok(a1 > a0 && a1 - a0 <= 12, `sane retries: ${a0} -> ${a1}`);
    });
  });
}
