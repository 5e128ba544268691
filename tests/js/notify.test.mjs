// Offer notifications: the ring (Web Audio) sounds only once armed by a user gesture, and
// a browser notification appears only while the desk is hidden and permission is granted.
// The browser's Notification and AudioContext are stand-ins that record what was asked.
import assert from "node:assert/strict";
import { test } from "node:test";

const made = { notes: [], tones: [] };
class FakeNotification {
  static permission = "default";
  static requested = 0;
  static requestPermission() {
    FakeNotification.requested += 1;
    return Promise.resolve(FakeNotification.permission);
  }
  constructor(title, options) {
    made.notes.push({ title, ...options });
  }
  close() {}
}
class FakeParam {
  setValueAtTime() {}
  exponentialRampToValueAtTime() {}
}
class FakeAudio {
  currentTime = 10;
  destination = {};
  createOscillator() {
    const osc = { frequency: { value: 0 }, connect: (g) => g, start: (at) => made.tones.push([osc.frequency.value, at]), stop() {} };
    return osc;
  }
  createGain() {
    return { gain: new FakeParam(), connect: (d) => d };
  }
}
globalThis.Notification = FakeNotification;
globalThis.AudioContext = FakeAudio;
globalThis.document = { visibilityState: "visible" };
globalThis.window = { focus() {} };

const { announce, arm, ring } = await import("../../src/jietong/web/static/desktop/notify.js");

test("the ring is silent until armed, then two tones", () => {
  ring();
  assert.deepEqual(made.tones, []);
  arm();
  ring();
  assert.deepEqual(made.tones, [[880, 10], [660, 10.25]]);
  assert.equal(FakeNotification.requested, 1, "arming asks for notification permission once");
});

test("a notification only while the desk is hidden and with permission", () => {
  made.notes.length = 0;
  FakeNotification.permission = "granted";
  announce("New offer", "王芳", "offer-1");
  assert.deepEqual(made.notes, [], "visible: the desk itself shows the offer");
  document.visibilityState = "hidden";
  announce("New offer", "王芳", "offer-1");
  assert.deepEqual(made.notes, [{ title: "New offer", body: "王芳", tag: "offer-1", requireInteraction: true }]);
  FakeNotification.permission = "denied";
  announce("New offer", "李伟", "offer-2");
  assert.equal(made.notes.length, 1);
});
