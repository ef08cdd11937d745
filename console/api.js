// The REST API (docs/api.md) over fetch: sign-in and sign-out, reads with the agent's
// bearer token, and changes (POST, PATCH, DELETE) answered with {ok, status, data}.
// Owns requests, their headers, and the words for a refused sign-in or change.
// Knows nothing of the page, the socket or the conversations; a 401 on a signed-in call
// goes to the `expired` hook set by configure().

import { duration } from "./format.js";

let auth = { token: () => null, expired: () => {} };

// token(): the bearer token to send; expired(): the server no longer takes it.
export function configure(hooks) {
  auth = hooks;
}

// GET path → its JSON; throws on a refusal (and on 401, after the expired hook).
export async function get(path) {
  const r = await fetch(path, { headers: { Authorization: "Bearer " + auth.token() } });
  if (r.status === 401) {
    auth.expired();
    throw new Error("unauthorized");
  }
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

// GET /v1/route for `site` (docs/protocol.md §6.4) → the base URL of the node serving it,
// null when this server runs alone (it names no node), undefined when it cannot say now.
export async function route(site) {
  try {
    const r = await fetch("/v1/route?site=" + encodeURIComponent(site));
    if (!r.ok) return undefined;
    const d = await r.json();
    if (!d.node) return null;
    return /^https?:\/\/[^/]/.test(d.url) ? d.url.replace(/\/+$/, "") : undefined;
  } catch (e) {
    return undefined;
  }
}

// A change (POST, PATCH, DELETE) → {ok, status, data}; refusals are {error, reason}. A network
// failure is status 0.
export async function change(method, path, body) {
  const headers = { Authorization: "Bearer " + auth.token() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    return { ok: false, status: 0, data: null };
  }
  if (r.status === 401) {
    auth.expired();
    return { ok: false, status: 401, data: null };
  }
  let data = null;
  try {
    data = await r.json();
  } catch (e) {
    data = null;
  }
  return { ok: r.ok, status: r.status, data };
}

// Why the server refused a change, for the agent: its own reason when it gave one.
export function refusal(res, what) {
  if (res.data && typeof res.data.reason === "string" && res.data.reason) return res.data.reason;
  if (res.status === 0) return "Cannot reach the server. Check your connection and try again.";
  if (res.status === 403) return "Only admins can change the site's settings.";
  return what + " failed (" + res.status + ").";
}

// POST /v1/login with {email, password, site?} → {status, data?, retryAfter?}; status 0
// when the server could not be reached (or answered nonsense).
export async function login(body) {
  try {
    const r = await fetch("/v1/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (r.status === 429) {
      let after = Number(r.headers.get("Retry-After"));
      if (!(after > 0)) {
        const m = /retry in (\d+) ?s/.exec(await r.text().catch(() => ""));
        after = m ? Number(m[1]) : 0;
      }
      return { status: 429, retryAfter: after };
    }
    if (!r.ok) return { status: r.status };
    return { status: r.status, data: await r.json() };
  } catch (e) {
    return { status: 0 };
  }
}

// What a sign-in answer means for the agent: null when it signed in.
export function loginRefusal(res) {
  if (res.status === 0) return "Cannot reach the server. Check your connection and try again.";
  if (res.status === 401) return "Wrong email or password.";
  if (res.status === 429) {
    const after = res.retryAfter;
    return "Too many failed sign-ins. Try again " + (after > 0 ? "in " + duration(after * 1000) : "later") + ".";
  }
  if (res.status === 400) return "This email belongs to several sites: enter the site key.";
  if (res.status < 200 || res.status > 299) return "Sign-in failed (" + res.status + "). Try again in a moment.";
  if (!res.data || !res.data.agent || !res.data.agent.site) return "The server did not say which site you belong to.";
  return null;
}

// POST /v1/logout: the token is revoked (or forgotten here either way).
export async function logout(token) {
  try {
    await fetch("/v1/logout", { method: "POST", headers: { Authorization: "Bearer " + token } });
  } catch (e) {
    // the token is forgotten here either way
  }
}
