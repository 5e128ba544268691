// What the screens show: queue rows, agents, offers' countdown, the day's series, and the
// charts' geometry (pure).
import assert from "node:assert/strict";
import { test } from "node:test";

import { niceMax, serviceLevelShapes, volumeShapes } from "../../src/jietong/web/static/desktop/charts.js";
import { agentRows, agentsByState, intervalSeries, myConversations, queueRows, ringRemaining } from "../../src/jietong/web/static/desktop/views.js";

const S = 1_000_000;
const directory = {
  users: { a: { name: "Ann", role: "agent", team_ids: ["t1"] }, b: { name: "Bo", role: "agent", team_ids: ["t2"] }, x: { name: "Xi", role: "admin", team_ids: [] } },
  queues: { q1: { name: "One", team_id: "t1", target_service_level: 0.8 }, q2: { name: "Two", team_id: "t2", target_service_level: 0.9 } },
  teams: {},
};
const work = (state, queue, queued, extra = {}) => ({ state, queue_id: queue, routed_queue_id: null, queued_us: queued, assigned_user_id: null, ...extra });
const state = {
  user_id: "a",
  day: { day_start_us: 0, day_end_us: 96 * 900 * S, interval_us: 900 * S, targets: {} },
  agents: { a: { state: "busy", reason: null, since_us: 100 * S } },
  offers: {},
  work: {
    w1: work("queued", "q1", 10 * S),
    w2: work("offered", "q1", 40 * S, { assigned_user_id: "b" }),
    w3: work("connected", "q1", 5 * S, { assigned_user_id: "a" }),
    w4: work("queued", "q1", 20 * S, { routed_queue_id: "q2" }),
  },
  kpi: { q1: { 0: [4, 3, 2, 1, 30 * S], 2: [1, 1, 1, 0, 5 * S] } },
};

test("queue rows: waiting in the queue routing has it in, longest wait, ratios", () => {
  const [one, two] = queueRows(state, directory, 70 * S);
  assert.equal(one.waiting, 2);
  assert.equal(one.longestWaitSeconds, 60);
  assert.equal(two.waiting, 1, "w4 waits where routing moved it");
  assert.equal(one.offered, 5);
  assert.equal(one.serviceLevel, 3 / 5);
  assert.equal(one.abandonedRate, 1 / 5);
  assert.equal(one.asaSeconds, 35 / 4);
  assert.deepEqual(one.agents, { available: 0, ringing: 0, busy: 1, wrap_up: 0, not_ready: 0, offline: 0 });
  assert.equal(two.serviceLevel, null, "nothing finished: no service level to show");
});

test("agents: by name, offline when unknown, with their open work", () => {
  const rows = agentRows(state, directory, 160 * S);
  assert.deepEqual(rows.map((r) => [r.name, r.state, r.secondsInState, r.load]), [["Ann", "busy", 60, 1], ["Bo", "offline", null, 1]]);
  assert.equal(agentsByState(state, directory, null).offline, 1);
});

test("my conversations and offers' countdown", () => {
  assert.deepEqual(myConversations(state).map((c) => c.id), ["w3"]);
  assert.equal(ringRemaining({ offered_us: 0, ring_timeout_seconds: 20 }, 5.5 * S), 15);
  assert.equal(ringRemaining({ offered_us: 0, ring_timeout_seconds: 20 }, 50 * S), 0);
});

test("the day's series runs to the current interval, with gaps where nothing finished", () => {
  const points = intervalSeries(state, ["q1", "q2"], 3 * 900 * S + 1);
  assert.equal(points.length, 4);
  assert.deepEqual(points.map((p) => p.offered), [4, 0, 1, 0]);
  assert.deepEqual(points.map((p) => p.serviceLevel), [0.5, null, 1, null]);
});

test("charts: nice axes, one bar per series and interval, the line breaks on gaps", () => {
  assert.deepEqual([niceMax(0), niceMax(3), niceMax(7), niceMax(40), niceMax(101)], [1, 5, 10, 50, 200]);
  const points = [
    { slot: 0, offered: 4, answered: 3, serviceLevel: 0.5 },
    { slot: 1, offered: 0, answered: 0, serviceLevel: null },
    { slot: 2, offered: 1, answered: 1, serviceLevel: 1 },
    { slot: 3, offered: 2, answered: 2, serviceLevel: 0.9 },
  ];
  const size = { width: 400, height: 100, count: 96, slotLabel: (i) => String(i) };
  const bars = volumeShapes(points, size).filter((s) => s.tag === "rect");
  assert.equal(bars.length, 6);
  assert.ok(bars.every((b) => b.y >= 0 && b.height > 0 && b.x >= 34));
  const sl = serviceLevelShapes(points, { ...size, target: 0.8 });
  assert.equal(sl.filter((s) => s.tag === "polyline").length, 1, "one run of two points after the gap");
  assert.equal(sl.filter((s) => s.tag === "circle").length, 3);
  assert.equal(sl.filter((s) => s.class === "sl-dot low").length, 1);
  assert.equal(sl.filter((s) => s.class === "target").length, 1);
});
