// The softphone's pure parts: which controls a call state enables, and what it says.
import assert from "node:assert/strict";
import { test } from "node:test";

import { concernsCalls, controlState, statusText, wordsFor } from "../../src/jietong/web/static/desktop/softphone.js";

const bridged = {
  interaction_id: "i1",
  phase: "bridged",
  held: false,
  muted: false,
  recording: true,
  recording_paused: false,
};

test("no call and no offer: everything off", () => {
  const state = controlState(null, null);
  for (const name of ["answer", "hold", "mute", "transfer", "dtmf", "hangup", "record"]) {
    assert.equal(state[name], false, name);
  }
  assert.equal(statusText(wordsFor("en"), null, null), "No call");
});

test("a call offer can be answered; nothing else yet", () => {
  const state = controlState(null, { id: "o1", channel: "call" });
  assert.equal(state.answer, true);
  assert.equal(state.hold, false);
  assert.equal(statusText(wordsFor("zh-CN"), null, { id: "o1" }), "来电：请在话机或此处接听");
});

test("a bridged, recorded call: every control, state shown", () => {
  const state = controlState(bridged, null);
  assert.deepEqual(
    ["hold", "mute", "transfer", "dtmf", "hangup", "record"].map((k) => state[k]),
    [true, true, true, true, true, true],
  );
  const words = wordsFor("en");
  assert.equal(statusText(words, bridged, null), "Connected · recording");
  const held = { ...bridged, held: true, muted: true, recording_paused: true };
  assert.equal(statusText(words, held, null), "Connected · on hold · muted · recording paused");
  assert.equal(controlState(held, null).paused, true);
});

test("a call still in the queue can only be hung up", () => {
  const state = controlState({ ...bridged, phase: "queued", recording: false }, null);
  assert.equal(state.hangup, true);
  assert.equal(state.hold || state.mute || state.transfer || state.dtmf || state.record, false);
});

test("unknown languages fall back sensibly", () => {
  assert.equal(wordsFor("zh-TW").none, "无通话");
  assert.equal(wordsFor("fr").none, "No call");
});

test("call, offer and interaction moves refresh the controls; other events do not", () => {
  for (const type of ["CallStarted", "CallLegChanged", "CallEnded", "OfferCreated", "OfferAccepted", "InteractionStateChanged"]) {
    assert.equal(concernsCalls(type), true, type);
  }
  for (const type of ["MessageAdded", "QueueStatsChanged", "AgentStateChanged", "InteractionStateChangedX"]) {
    assert.equal(concernsCalls(type), false, type);
  }
});
