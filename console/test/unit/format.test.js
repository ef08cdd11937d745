import { test } from "node:test";
import assert from "node:assert/strict";
import { hhmm, duration, ago, describeUa, hostOf, shortId, plural } from "../../format.js";

test("durations and ages", () => {
  assert.equal(duration(-5), "0s");
  assert.equal(duration(42_999), "42s");
  assert.equal(duration(5 * 60_000 + 3_000), "5m 3s");
  assert.equal(duration((2 * 60 + 10) * 60_000 + 59_000), "2h 10m");
  assert.equal(ago(9_999), "just now");
  assert.equal(ago(42_000), "42s ago");
  assert.equal(ago(5 * 60_000), "5m ago");
  assert.equal(ago(3 * 3_600_000), "3h ago");
  assert.equal(ago(50 * 3_600_000), "2d ago");
});

test("times: the hour today, the date another day, nothing for no time", () => {
  assert.equal(hhmm(0), "");
  const now = hhmm(Date.now());
  assert.match(now, /\d/);
  const old = hhmm(Date.UTC(2020, 2, 3, 12, 0));
  assert.ok(old.length > now.length, `${old} names the day`);
});

test("user agents in words", () => {
  const cases = [
    ["", "Unknown device"],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome 120 on Windows · Desktop"],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0", "Edge 120 on Windows · Desktop"],
    ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", "Safari 17 on iOS · Mobile"],
    ["Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Mobile Safari/537.36 MicroMessenger/8.0.42.2460", "WeChat 8 on Android · Mobile"],
    ["Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)", "Internet Explorer 8 on Windows 7 · Desktop"],
    ["Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 Safari/604.1", "Safari 16 on iOS · Tablet"],
    ["curl/8.0", "Unknown browser · Desktop"],
  ];
  for (const [ua, want] of cases) assert.equal(describeUa(ua), want, ua);
});

test("hosts, short ids, plurals", () => {
  assert.equal(hostOf("https://shop.example:8443/a?b"), "shop.example:8443");
  assert.equal(hostOf("not a url"), "not a url");
  assert.equal(shortId("3f9a2c77"), "3f9a2c");
  assert.equal(shortId(null), "");
  assert.equal(plural(1, "visit", "visits"), "1 visit");
  assert.equal(plural(0, "visit", "visits"), "0 visits");
});
