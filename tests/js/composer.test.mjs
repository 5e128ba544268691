// The composer's pure helpers: SMS segments, canned variables, mentions, addresses.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  expandCanned,
  mentionAt,
  mentionCandidates,
  mentionedIds,
  parseAddresses,
  smsSegments,
} from "../../src/jietong/web/static/desktop/composer.js";
import { actionOf } from "../../src/jietong/web/static/desktop/shortcuts.js";

test("SMS segments: GSM-7 and UCS-2 limits, escapes and surrogates never split", () => {
  assert.deepEqual(smsSegments(""), { encoding: "GSM-7", units: 0, segments: 1, perSegment: 160 });
  assert.equal(smsSegments("a".repeat(160)).segments, 1);
  assert.equal(smsSegments("a".repeat(161)).segments, 2);
  assert.equal(smsSegments("€".repeat(80)).units, 160);
  assert.equal(smsSegments("a".repeat(152) + "€").segments, 1); // 154 units, fits in 160
  assert.equal(smsSegments("a".repeat(160) + "€").segments, 2);
  assert.deepEqual(smsSegments("您好".repeat(35)), { encoding: "UCS-2", units: 70, segments: 1, perSegment: 70 });
  assert.equal(smsSegments("您".repeat(71)).segments, 2);
  assert.equal(smsSegments("a".repeat(66) + "😀" + "b".repeat(66)).segments, 3); // 134 units, pair moves whole
});

test("canned responses fill known variables and leave the rest visible", () => {
  const vars = { "customer.name": "王芳", "agent.name": "Ann", today: "2026-11-23" };
  assert.equal(expandCanned("您好 {customer.name}, I am {agent.name}.", vars), "您好 王芳, I am Ann.");
  assert.equal(expandCanned("Order {order.id} on {today}", vars), "Order {order.id} on 2026-11-23");
  assert.equal(expandCanned("{{literal}} {customer.company}", { "customer.company": "" }), "{literal} {customer.company}");
});

test("mentions: the word being typed, candidates, and who was mentioned", () => {
  assert.deepEqual(mentionAt("ask @An", 7), { query: "An", start: 4 });
  assert.equal(mentionAt("mail a@b", 8), null);
  const users = { u1: { name: "Ann Lee" }, u2: { name: "Anna" }, u3: { name: "李娜" }, u4: { name: "Bob" } };
  assert.deepEqual(mentionCandidates(users, "an").map((c) => c.id), ["u1", "u2"]);
  assert.deepEqual(mentionCandidates(users, "娜").map((c) => c.id), ["u3"]);
  assert.deepEqual(mentionedIds("@Ann Lee and @李娜, not @Bobby", users).sort(), ["u1", "u3"]);
  assert.deepEqual(mentionedIds("@Anna please", users), ["u2"]);
});

test("CC addresses are split and checked", () => {
  assert.deepEqual(parseAddresses("a@x.cn; bad, c@y.com"), [
    { address: "a@x.cn", valid: true },
    { address: "bad", valid: false },
    { address: "c@y.com", valid: true },
  ]);
});

test("shortcuts use layout-independent codes and leave plain typing alone", () => {
  assert.deepEqual(actionOf({ altKey: true, code: "KeyA", key: "å" }), { action: "accept" });
  assert.deepEqual(actionOf({ altKey: true, code: "Digit3", key: "3" }), { action: "tab", index: 2 });
  assert.deepEqual(actionOf({ ctrlKey: true, key: "Enter", code: "Enter" }), { action: "send" });
  assert.equal(actionOf({ key: "a", code: "KeyA" }), null);
  assert.equal(actionOf({ altKey: true, ctrlKey: true, code: "KeyA" }), null);
});
