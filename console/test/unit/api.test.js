import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import * as api from "../../api.js";

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

// fetch answering with status and a JSON body (or text), recording the requests.
function answer(status, body, headers = {}) {
  const calls = [];
  globalThis.fetch = async (url, init = {}) => {
    calls.push({ url, ...init });
    return {
      status,
      ok: status >= 200 && status < 300,
      headers: { get: (k) => headers[k] ?? null },
      json: async () => (typeof body === "string" ? JSON.parse(body) : body),
      text: async () => (typeof body === "string" ? body : JSON.stringify(body)),
    };
  };
  return calls;
}

test("reads carry the bearer token; a 401 ends the session", async () => {
  let expired = 0;
  api.configure({ token: () => "tok", expired: () => expired++ });
  const calls = answer(200, { conversations: [] });
  assert.deepEqual(await api.get("/v1/conversations"), { conversations: [] });
  assert.equal(calls[0].headers.Authorization, "Bearer tok");
  answer(500, {});
  await assert.rejects(api.get("/v1/x"), /\/v1\/x: 500/);
  assert.equal(expired, 0);
  answer(401, {});
  await assert.rejects(api.get("/v1/x"), /unauthorized/);
  assert.equal(expired, 1);
});

test("changes answer {ok, status, data}; the server's reason is shown when it refuses", async () => {
  let expired = 0;
  api.configure({ token: () => "tok", expired: () => expired++ });
  const calls = answer(201, { canned: { id: 1 } });
  assert.deepEqual(await api.change("POST", "/v1/canned", { shortcut: "hi" }), { ok: true, status: 201, data: { canned: { id: 1 } } });
  assert.equal(calls[0].method, "POST");
  assert.equal(calls[0].headers["Content-Type"], "application/json");
  assert.equal(calls[0].body, '{"shortcut":"hi"}');
  const del = answer(204, "");
  assert.deepEqual(await api.change("DELETE", "/v1/canned/1"), { ok: true, status: 204, data: null });
  assert.equal(del[0].headers["Content-Type"], undefined, "no body, no type");
  const res = await (answer(409, { error: "conflict", reason: "shortcut taken" }), api.change("POST", "/v1/canned", {}));
  assert.equal(api.refusal(res, "Adding"), "shortcut taken");
  assert.equal(api.refusal({ status: 403, data: null }, "Adding"), "Only admins can change the site's settings.");
  assert.equal(api.refusal({ status: 500, data: {} }, "Adding the rule"), "Adding the rule failed (500).");
  globalThis.fetch = async () => {
    throw new TypeError("network");
  };
  const down = await api.change("POST", "/v1/rules", {});
  assert.deepEqual(down, { ok: false, status: 0, data: null });
  assert.match(api.refusal(down, "x"), /Cannot reach the server/);
  answer(401, {});
  assert.equal((await api.change("DELETE", "/v1/rules/1")).status, 401);
  assert.equal(expired, 1);
});

test("sign-in answers, in words", async () => {
  const ok = { token: "t", agent: { id: 1, site: "s_x" } };
  answer(200, ok);
  const res = await api.login({ email: "a@x", password: "p" });
  assert.deepEqual(res, { status: 200, data: ok });
  assert.equal(api.loginRefusal(res), null);
  answer(401, {});
  assert.equal(api.loginRefusal(await api.login({})), "Wrong email or password.");
  answer(429, "", { "Retry-After": "90" });
  assert.equal(api.loginRefusal(await api.login({})), "Too many failed sign-ins. Try again in 1m 30s.");
  answer(429, "too many failures: retry in 42 s");
  assert.equal(api.loginRefusal(await api.login({})), "Too many failed sign-ins. Try again in 42s.");
  answer(429, "slow down");
  assert.equal(api.loginRefusal(await api.login({})), "Too many failed sign-ins. Try again later.");
  answer(400, {});
  assert.match(api.loginRefusal(await api.login({})), /enter the site key/);
  answer(503, {});
  assert.equal(api.loginRefusal(await api.login({})), "Sign-in failed (503). Try again in a moment.");
  answer(200, { token: "t", agent: { id: 1 } });
  assert.equal(api.loginRefusal(await api.login({})), "The server did not say which site you belong to.");
  answer(200, "{not json");
  assert.match(api.loginRefusal(await api.login({})), /Cannot reach the server/);
});
