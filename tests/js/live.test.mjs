// The live connection: resumes after the last applied seq, never applies an event twice,
// backs off, reloads the snapshot when told to or when the state went stale.
import assert from "node:assert/strict";
import { test } from "node:test";

import { BACKOFF_MS, Live } from "../../src/jietong/web/static/desktop/live.js";

function snapshotAt(asOf) {
  return {
    state: { as_of: asOf, skip: [], stale: false, user_id: "me", day: null, agents: {}, offers: {}, work: {}, kpi: null },
    directory: { users: {}, queues: {}, teams: {} },
  };
}

class FakeSocket {
  constructor(after) {
    this.after = after;
    this.closed = false;
  }
  send(message) {
    this.onmessage({ data: JSON.stringify(message) });
  }
  close() {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
  }
}

function harness(snapshots) {
  const sockets = [];
  const timers = [];
  let loads = 0;
  const live = new Live({
    loadSnapshot: async () => snapshots[Math.min(loads++, snapshots.length - 1)],
    openSocket: (after) => {
      const socket = new FakeSocket(after);
      sockets.push(socket);
      return socket;
    },
    setTimer: (fn, ms) => timers.push({ fn, ms }) && timers.length,
    clearTimer: () => {},
  });
  return { live, sockets, timers, loads: () => loads };
}

const created = (seq, id) => ({
  type: "event",
  seq,
  event_id: `e${seq}`,
  event_type: "InteractionCreated",
  occurred_at: "2026-11-23T01:00:00+00:00",
  payload: { interaction_id: id, channel: "chat", direction: "inbound", customer_id: null, queue_id: "q" },
});

test("a drop resumes after the last applied seq, without duplicates", async () => {
  const { live, sockets, timers } = harness([snapshotAt(5)]);
  await live.start();
  assert.equal(sockets[0].after, 5);
  sockets[0].send({ type: "hello", position: 9 });
  assert.equal(live.status, "live");
  sockets[0].send(created(6, "a"));
  sockets[0].send(created(7, "b"));
  sockets[0].close(); // the network drops
  assert.equal(live.status, "offline");
  assert.equal(timers.at(-1).ms, BACKOFF_MS[0]);
  timers.at(-1).fn();
  assert.equal(sockets[1].after, 7, "resume after the last applied event");
  sockets[1].send({ type: "hello", position: 9 });
  sockets[1].send(created(7, "b")); // a server replaying the seam again
  sockets[1].send(created(8, "c"));
  assert.deepEqual(Object.keys(live.state.work).sort(), ["a", "b", "c"]);
  assert.equal(live.applied, 3);
  assert.equal(live.state.as_of, 8);
});

test("backoff grows while the server stays away, and resets once live", async () => {
  const { live, sockets, timers } = harness([snapshotAt(0)]);
  await live.start();
  for (let i = 0; i < 7; i += 1) {
    sockets.at(-1).close();
    timers.at(-1).fn();
  }
  assert.deepEqual(timers.map((t) => t.ms), [1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  sockets.at(-1).send({ type: "hello", position: 0 });
  sockets.at(-1).close();
  assert.equal(timers.at(-1).ms, 1000);
});

test("resnapshot and stale states reload the snapshot and reconnect after it", async () => {
  const { live, sockets, loads } = harness([snapshotAt(3), snapshotAt(40), snapshotAt(50)]);
  await live.start();
  sockets[0].send({ type: "resnapshot" });
  await live.reloading;
  assert.equal(loads(), 2);
  assert.equal(sockets[1].after, 40);
  assert.equal(sockets[0].closed, true);
  sockets[1].send({ type: "event", seq: 41, event_id: "q", event_type: "QueueUpdated", occurred_at: "2026-11-23T01:00:00Z", payload: { user_id: "me", changed: ["team_ids"] } });
  await live.reloading;
  assert.equal(loads(), 3);
  assert.equal(sockets[2].after, 50);
});

test("messages of an abandoned socket are ignored", async () => {
  const { live, sockets } = harness([snapshotAt(0), snapshotAt(10)]);
  await live.start();
  const old = sockets[0];
  await live.reload();
  old.onmessage({ data: JSON.stringify(created(11, "ghost")) });
  assert.deepEqual(live.state.work, {});
});
