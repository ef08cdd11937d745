import { test } from "node:test";
import assert from "node:assert/strict";
import { cannedList, withCanned, slashQuery, matching, normalShortcut, Suggestions } from "../../canned.js";

const C = (id, shortcut, text = shortcut + " text") => ({ id, shortcut, text });
const LIST = [C(1, "hello"), C(2, "bye"), C(3, "help"), C(4, "Hours")];

test("the server's list: usable responses, by shortcut", () => {
  const got = cannedList({ canned: [C(1, "hello"), null, { id: 5, shortcut: 3, text: "x" }, C(2, "bye"), { id: 6, shortcut: "n" }] });
  assert.deepEqual(got.map((c) => c.shortcut), ["bye", "hello"]);
  assert.deepEqual(cannedList({}), []);
  assert.deepEqual(cannedList(null), []);
  const list = cannedList({ canned: LIST });
  assert.equal(withCanned(list, list[0]), list, "already there");
  assert.equal(withCanned(list, null), list);
  assert.deepEqual(withCanned(list, C(9, "apology")).map((c) => c.shortcut), ["Hours", "apology", "bye", "hello", "help"], "by code unit, as sorted before");
});

test("a shortcut being typed, and what it matches", () => {
  assert.equal(slashQuery("/"), "");
  assert.equal(slashQuery("/HeL"), "hel");
  assert.equal(slashQuery("/he l"), null);
  assert.equal(slashQuery("hello /he"), null);
  assert.equal(slashQuery(""), null);
  assert.deepEqual(matching(LIST, "he").map((c) => c.id), [1, 3]);
  assert.deepEqual(matching(LIST, "ho").map((c) => c.id), [4], "case does not matter");
  assert.deepEqual(matching(LIST, ""), LIST);
  assert.equal(normalShortcut("  /Hello "), "hello");
});

test("suggestions: open, keep the selection, wrap, close when nothing matches or replies cannot be written", () => {
  const s = new Suggestions();
  assert.equal(s.refresh(LIST, false, true), null, "closed and not opening: nothing to do");
  s.query = s.onInput("/he");
  assert.equal(s.query, "he");
  assert.equal(s.refresh(LIST, true, true), true);
  assert.deepEqual(s.items.map((c) => c.id), [1, 3]);
  s.move(1);
  assert.equal(s.selected().id, 3);
  s.move(1);
  assert.equal(s.selected().id, 1, "wraps around");
  s.move(-1);
  assert.equal(s.selected().id, 3);
  // The list changes under it: the selected response stays selected.
  assert.equal(s.refresh([C(0, "hey"), ...LIST], false, true), true);
  assert.equal(s.selected().id, 3);
  // Gone: the first one.
  assert.equal(s.refresh([C(1, "hello")], false, true), true);
  assert.equal(s.index, 0);
  assert.equal(s.refresh(LIST, false, false), false, "a closed conversation: close");
  s.query = "zzz";
  assert.equal(s.refresh(LIST, true, true), false, "no match: close");
  assert.equal(s.close(), true);
  assert.equal(s.close(), false);
  assert.equal(s.selected(), null);
});

test("Escape dismisses the list for what the box holds, until it changes", () => {
  const s = new Suggestions();
  assert.equal(s.onInput("/b"), "b");
  s.dismissed = "/b";
  assert.equal(s.onInput("/b"), null, "the same value: stays closed");
  assert.equal(s.onInput("/by"), "by", "typing on opens it again");
  assert.equal(s.dismissed, null);
  assert.equal(s.onInput("plain text"), null);
});
