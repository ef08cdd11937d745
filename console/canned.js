// Canned responses: the list as the server gives it, and the suggestion list under the
// reply box. "slash" mode follows a "/shortcut" typed at the start of the box (picking
// replaces the box); "all" mode (the Canned button) lists every response (picking inserts
// at the caret).
// Owns which responses match, their order, and the suggestion list's open / selected /
// dismissed state.
// Knows nothing of the page, REST or the conversations: the composer draws the list and
// says whether replies can be written.

export const CANNED_STALE = 60000; // canned responses older than this are fetched again when used

const byShortcut = (a, b) => (a.shortcut < b.shortcut ? -1 : a.shortcut > b.shortcut ? 1 : 0);

// The usable responses of a GET /v1/canned answer, by shortcut.
export function cannedList(data) {
  return (Array.isArray(data && data.canned) ? data.canned : [])
    .filter((c) => c && typeof c.shortcut === "string" && typeof c.text === "string")
    .sort(byShortcut);
}

// The list with c added (when new), by shortcut.
export function withCanned(list, c) {
  if (!c || typeof c.shortcut !== "string" || list.some((x) => x.id === c.id)) return list;
  return list.concat([c]).sort(byShortcut);
}

// "hel" when the box holds exactly "/hel"; null when it is not a shortcut being typed.
export function slashQuery(value) {
  const m = /^\/([a-z0-9_-]*)$/i.exec(value);
  return m ? m[1].toLowerCase() : null;
}

// The responses whose shortcut starts with query (lower case).
export function matching(canned, query) {
  return canned.filter((c) => c.shortcut.toLowerCase().startsWith(query));
}

// A canned response's shortcut as an admin types it: "/Hello " -> "hello".
export function normalShortcut(text) {
  return text.trim().replace(/^\//, "").toLowerCase();
}

export class Suggestions {
  constructor() {
    this.open = false;
    this.mode = "slash";
    this.query = "";
    this.items = [];
    this.index = 0;
    this.dismissed = null; // the box's value when Escape closed the list
  }

  // What the box's new value asks for: the query to open the list with, or null to close
  // it (no shortcut typed, or the list was dismissed for this very value).
  onInput(value) {
    if (value !== this.dismissed) this.dismissed = null;
    const q = slashQuery(value);
    if (q === null || this.dismissed !== null) return null;
    return q;
  }

  // Recompute the items from canned (keeping the selected one when it is still there),
  // when open or opening; usable: replies can be written. True when the list is open
  // after it, false when it is to be closed, null when closed and nothing changed.
  refresh(canned, opening, usable) {
    if (!opening && !this.open) return null;
    const sel = this.selected();
    const keep = this.open && sel ? sel.id : null;
    const items = matching(canned, this.query);
    if (!items.length || !usable) return false;
    this.open = true;
    this.items = items;
    this.index = Math.max(0, items.findIndex((c) => c.id === keep));
    return true;
  }

  // Close the list; true when it was open.
  close() {
    const was = this.open;
    this.open = false;
    this.items = [];
    this.index = 0;
    return was;
  }

  // Move the selection by `by`, wrapping around.
  move(by) {
    const n = this.items.length;
    if (!n) return;
    this.index = (this.index + by + n) % n;
  }

  selected() {
    return this.items[this.index] || null;
  }
}
