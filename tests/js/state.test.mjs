// The reducer: lifecycle of work entries, messages, presence, offers, figures,
// idempotence at the replay seam, skipped events and staleness.
import assert from "node:assert/strict";
import { test } from "node:test";

import { apply, comparable, reduce, toMicros } from "../../src/jietong/web/static/desktop/state.js";

const T0 = "2026-11-23T01:00:00+00:00";
const at = (seconds) => new Date(Date.parse(T0) + seconds * 1000).toISOString();
const us = (seconds) => toMicros(at(seconds));
const DAY = {
  day_start_us: toMicros("2026-11-22T16:00:00Z"), // midnight in Asia/Shanghai
  day_end_us: toMicros("2026-11-23T16:00:00Z"),
  interval_us: 15 * 60 * 1e6,
  targets: { q1: 20, q2: 60 },
};

function empty(extra = {}) {
  return {
    as_of: 0,
    skip: [],
    stale: false,
    user_id: "me",
    day: DAY,
    agents: {},
    offers: {},
    work: {},
    kpi: {},
    ...extra,
  };
}

let seq = 0;
function ev(type, payload, seconds = 0, id = undefined) {
  seq += 1;
  return { seq, event_id: id ?? `e${seq}`, event_type: type, occurred_at: at(seconds), payload };
}
const created = (id, s, queue = "q1") =>
  ev("InteractionCreated", { interaction_id: id, channel: "chat", direction: "inbound", customer_id: "c", queue_id: queue }, s);
const moved = (id, from, trigger, to, s, user = null, queue = "q1") =>
  ev("InteractionStateChanged", { interaction_id: id, from_state: from, trigger, to_state: to, queue_id: queue, assigned_user_id: user }, s);
const message = (id, direction, s, internal = false) =>
  ev("MessageAdded", { interaction_id: id, message_id: `m${seq}`, direction, internal }, s);

test("toMicros is exact to the microsecond and honours offsets", () => {
  assert.equal(toMicros("1970-01-01T00:00:00Z"), 0);
  assert.equal(toMicros("1970-01-01T00:00:01.000001+00:00"), 1_000_001);
  assert.equal(toMicros("1970-01-01T08:00:00+08:00"), 0);
  assert.equal(toMicros("2026-11-23T01:00:00.123456+00:00") % 1_000_000, 123_456);
  assert.throws(() => toMicros("2026-11-23 01:00:00"));
});

test("an interaction goes from arrival to close, with KPI times set once", () => {
  const s = reduce(empty(), [
    created("i1", 0),
    moved("i1", "arrived", "enqueue", "queued", 5),
    moved("i1", "queued", "offer", "offered", 7, "me"),
    moved("i1", "offered", "decline", "queued", 9),
    moved("i1", "queued", "offer", "offered", 11, "me"),
    moved("i1", "offered", "accept", "connected", 15, "me"),
  ]);
  const entry = s.work.i1;
  assert.equal(entry.state, "connected");
  assert.equal(entry.assigned_user_id, "me");
  assert.equal(entry.queued_us, us(5), "first queued time survives the decline");
  assert.equal(entry.answered_us, us(15));
  assert.deepEqual(Object.values(s.kpi.q1), [[1, 1, 1, 0, 10_000_000]]);
  const closed = reduce(s, [
    moved("i1", "connected", "end", "wrap_up", 30, "me"),
    moved("i1", "wrap_up", "close", "closed", 40, "me"),
  ]);
  assert.equal(closed.work.i1, undefined);
  assert.deepEqual(closed.kpi, s.kpi, "closing keeps today's figures");
});

test("abandonment and slow answers count against the service level", () => {
  const s = reduce(empty(), [
    created("a", 0),
    moved("a", "arrived", "enqueue", "queued", 0),
    moved("a", "queued", "abandon", "abandoned", 50),
    created("b", 1),
    moved("b", "arrived", "enqueue", "queued", 1),
    moved("b", "queued", "offer", "offered", 30, "x"),
    moved("b", "offered", "accept", "connected", 31, "x"),
  ]);
  assert.equal(s.work.a, undefined);
  assert.deepEqual(Object.values(s.kpi.q1), [[2, 1, 0, 1, 30_000_000]]);
});

test("moving work to another queue moves its figures", () => {
  const s = reduce(empty(), [
    created("i", 0),
    moved("i", "arrived", "enqueue", "queued", 1),
    ev("WorkMoved", { entry_id: "r", interaction_id: "i", from_queue_id: "q1", to_queue_id: "q2", cause: "supervisor" }, 2),
  ]);
  assert.equal(s.kpi.q1, undefined);
  assert.deepEqual(Object.values(s.kpi.q2), [[1, 0, 0, 0, 0]]);
  assert.equal(s.work.i.queue_id, "q1", "the interaction still arrived in q1");
  assert.equal(s.work.i.routed_queue_id, "q2");
});

test("work queued before today does not count today", () => {
  const old = { ...empty(), day: { ...DAY, day_start_us: us(100) } };
  const s = reduce(old, [created("i", 0), moved("i", "arrived", "enqueue", "queued", 1)]);
  assert.deepEqual(s.kpi, {});
});

test("messages are counted by kind", () => {
  const s = reduce(empty(), [
    created("i", 0),
    message("i", "inbound", 1),
    message("i", "inbound", 2),
    message("i", "outbound", 3, true),
    message("i", "outbound", 4),
  ]);
  assert.deepEqual([s.work.i.inbound, s.work.i.outbound, s.work.i.notes], [2, 1, 1]);
  assert.equal(reduce(s, [message("unknown", "inbound", 5)]).work.unknown, undefined);
});

test("events at or below as_of are ignored: replaying twice changes nothing", () => {
  const events = [created("i", 0), message("i", "inbound", 1)];
  const once = reduce(empty(), events);
  assert.deepEqual(reduce(once, events), once);
  assert.equal(once.as_of, events[1].seq);
});

test("events the snapshot already reflects (skip) are not applied again", () => {
  const base = reduce(empty(), [created("i", 0)]);
  const e = message("i", "inbound", 1);
  const s = apply({ ...base, skip: [e.event_id] }, e);
  assert.equal(s.work.i.inbound, 0);
  assert.deepEqual(s.skip, []);
  assert.equal(s.as_of, e.seq);
});

test("presence and offers", () => {
  const s = reduce(empty(), [
    ev("AgentStateChanged", { agent_id: "me", from_state: "offline", trigger: "login", to_state: "not_ready", reason: "break" }, 0),
    ev("AgentStateChanged", { agent_id: "me", from_state: "not_ready", trigger: "ready", to_state: "available", reason: null }, 3),
    ev("OfferCreated", { offer_id: "o1", interaction_id: "i", agent_id: "me", queue_id: "q1", channel: "chat", ring_timeout_seconds: 20 }, 4),
  ]);
  assert.deepEqual(s.agents.me, { state: "available", reason: null, since_us: us(3) });
  assert.equal(s.offers.o1.offered_us, us(4));
  const after = reduce(s, [
    ev("OfferAccepted", { offer_id: "o1", interaction_id: "i", agent_id: "me" }, 5),
    ev("AgentStateChanged", { agent_id: "me", from_state: "busy", trigger: "logout", to_state: "offline", reason: null }, 9),
  ]);
  assert.deepEqual(after.offers, {});
  assert.deepEqual(after.agents, {}, "offline agents are not listed");
});

test("unknown work entering our reach, or a changed queue, asks for a snapshot", () => {
  const s = apply(empty(), moved("zz", "queued", "offer", "offered", 1, "me"));
  assert.equal(s.stale, true);
  assert.equal(apply(empty(), moved("zz", "offered", "abandon", "abandoned", 1)).stale, false);
  assert.equal(apply(empty(), ev("QueueUpdated", { queue_id: "q1", changed: ["name"] })).stale, true);
  const desk = { ...empty(), kpi: null, day: null };
  assert.equal(apply(desk, ev("QueueUpdated", { queue_id: "q1", changed: ["name"] })).stale, false);
  assert.equal(apply(desk, ev("UserUpdated", { user_id: "me", changed: ["team_ids"] })).stale, true);
});

test("work is placed in the state and with the assignee it starts with", () => {
  const start = (id, state, user) =>
    ev("InteractionCreated", { interaction_id: id, channel: "email", direction: "inbound", customer_id: "c", queue_id: "q1", state, assigned_user_id: user }, 3);
  const s = reduce(empty(), [start("bounce", "closed", null), start("mine", "arrived", "me")]);
  // Automatic mail with nowhere to go starts closed: it never becomes an entry.
  assert.deepEqual(Object.keys(s.work), ["mine"]);
  assert.equal(s.work.mine.assigned_user_id, "me");
  assert.equal(s.work.mine.state, "arrived");
});

test("work handed away from an agent leaves their desk unless their team has it", () => {
  const REACH = { team_ids: ["t1"], queue_teams: { q1: "t1", q2: "t2", loose: null } };
  const desk = (reach) => ({ ...empty(), kpi: null, day: null, reach });
  const mine = reduce(desk(REACH), [
    created("x", 0, "q2"),
    moved("x", "arrived", "enqueue", "queued", 1, null, "q2"),
    moved("x", "queued", "offer", "offered", 2, "me", "q2"),
    moved("x", "offered", "accept", "connected", 3, "me", "q2"),
  ]);
  assert.equal(mine.work.x.assigned_user_id, "me");
  // Another team's work goes back to its queue: it is not ours to see any more.
  const gone = apply(mine, moved("x", "connected", "transfer", "queued", 4, null, "q2"));
  assert.deepEqual(gone.work, {});
  assert.equal(gone.stale, false);
  // Our team's work stays, waiting in the queue.
  const team = reduce(desk(REACH), [created("y", 0), moved("y", "arrived", "offer", "offered", 1, "me")]);
  assert.equal(apply(team, moved("y", "offered", "decline", "queued", 2)).work.y.state, "queued");
  // Work without a queue, or in a queue of no team: only a snapshot knows its team.
  for (const queue of [null, "loose"]) {
    const loose = reduce(desk(REACH), [created("z", 0, queue), moved("z", "arrived", "offer", "offered", 1, "me", queue)]);
    assert.equal(apply(loose, moved("z", "offered", "decline", "queued", 2, null, queue)).stale, true);
  }
  // Someone who sees everything keeps everything.
  const all = reduce(desk(null), [created("w", 0, "q2"), moved("w", "arrived", "offer", "offered", 1, "me", "q2")]);
  assert.equal(apply(all, moved("w", "offered", "decline", "queued", 2, null, "q2")).work.w.state, "queued");
});

test("work moved to another team's queue leaves an agent's desk; moved into ours, reloads", () => {
  const REACH = { team_ids: ["t1"], queue_teams: { q1: "t1", q2: "t2" } };
  const desk = { ...empty(), kpi: null, day: null, reach: REACH };
  const moveTo = (id, from, to, fromTeam, toTeam) =>
    ev("WorkMoved", { entry_id: "e", interaction_id: id, from_queue_id: from, to_queue_id: to, cause: "supervisor", from_team_id: fromTeam, to_team_id: toTeam });
  const waiting = reduce(desk, [created("i", 0), moved("i", "arrived", "enqueue", "queued", 1)]);
  assert.deepEqual(apply(waiting, moveTo("i", "q1", "q2", "t1", "t2")).work, {});
  const inTeam = apply(waiting, moveTo("i", "q1", "q3", "t1", null)).work.i;
  assert.deepEqual([inTeam.queue_id, inTeam.routed_queue_id], ["q3", "q3"], "the interaction moved with it");
  assert.equal(apply(desk, moveTo("x", "q2", "q1", "t2", "t1")).stale, true);
  assert.equal(apply(desk, moveTo("x", "q2", "q4", "t2", "t3")).stale, false);
  // Events written before WorkMoved named teams: only routing's queue changes.
  const old = apply(waiting, ev("WorkMoved", { entry_id: "e", interaction_id: "i", from_queue_id: "q1", to_queue_id: "q2", cause: "overflow" })).work.i;
  assert.deepEqual([old.queue_id, old.routed_queue_id], ["q1", "q2"]);
});

test("the reducer never mutates its input", () => {
  const before = reduce(empty(), [created("i", 0), moved("i", "arrived", "enqueue", "queued", 1)]);
  const frozen = JSON.stringify(before);
  reduce(before, [message("i", "inbound", 2), moved("i", "queued", "abandon", "abandoned", 3)]);
  assert.equal(JSON.stringify(before), frozen);
  assert.deepEqual(Object.keys(comparable(before)).sort(), ["agents", "kpi", "offers", "work"]);
});
