// DOM helpers: elements by id, new elements holding text, a form's error line, and toasts.
// User text only ever reaches the page through textContent here (never as HTML).
// Owns nothing but these helpers; knows nothing of the state, the socket or REST.

export const $ = (id) => document.getElementById(id);

// A new element with a class and text (as text).
export function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

// h(...) appended to parent.
export function add(parent, tag, cls, text) {
  return parent.appendChild(h(tag, cls, text));
}

// The error line `id` says `text`, or is hidden when there is none.
export function showFormError(id, text) {
  const el = $(id);
  el.textContent = text || "";
  el.hidden = !text;
}

// A message in the corner for six seconds; kind: "good", "bad" or none.
export function toast(text, kind) {
  const t = add($("toasts"), "div", "toast" + (kind ? " " + kind : ""), text);
  setTimeout(() => t.remove(), 6000);
}
