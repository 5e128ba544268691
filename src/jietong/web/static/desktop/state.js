// The screens' state as a pure reducer: state = reduce(snapshot.state, events).
//
// No DOM, no network, no clock: the same module runs in the browser, under `node --test`
// and in the pytest consistency test, which checks that applying the server's events to a
// stale snapshot equals a fresh snapshot. The server builds snapshots with the same
// definitions (jietong/web/desktop/snapshot.py); see docs/subsystems/desktop.md.
//
// State (times are integer microseconds since the epoch, UTC):
//   as_of   seq of the last event applied (or the snapshot's position)
//   skip    ids of events the snapshot already reflects but that were not yet published
//   stale   true when the reducer could not follow exactly: reload a snapshot
//   user_id the viewer
//   reach   {team_ids, queue_teams: {queue_id: team_id|null}}: what the viewer sees
//           beyond work assigned to them; null when they see everything
//   day     {day_start_us, day_end_us, interval_us, targets} or null (no figures)
//   agents  {user_id: {state, reason, since_us}}       presence, offline agents omitted
//   offers  {offer_id: {interaction_id, agent_id, queue_id, channel,
//                       ring_timeout_seconds, offered_us}}  pending offers
//   work    {interaction_id: entry}                    open interactions the viewer sees;
//           an entry's queue is routed_queue_id (where routing has it) or queue_id
//   kpi     {queue_id: {slot: [offered, answered, in_sl, abandoned, answer_us]}} or null

import { addContribution, contribution } from "./kpi.js";

export const TERMINAL = new Set(["closed", "abandoned"]);
// Events after which the screens' directory or figures need a fresh snapshot: the
// reducer cannot recompute figures for a changed target or know a new user's teams.
const RELOAD_FOR_FIGURES = new Set([
  "QueueCreated",
  "QueueUpdated",
  "UserCreated",
  "UserUpdated",
  "TeamCreated",
]);

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** An ISO 8601 time with offset as integer microseconds since the epoch (exact). */
export function toMicros(iso) {
  const m = ISO.exec(iso);
  if (!m) throw new Error(`not an ISO 8601 time with offset: ${iso}`);
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  const fraction = Number(`${m[7] ?? ""}000000`.slice(0, 6));
  let offsetMinutes = 0;
  if (m[8] !== "Z") {
    const sign = m[8][0] === "-" ? -1 : 1;
    offsetMinutes = sign * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6)));
  }
  return (ms - offsetMinutes * 60_000) * 1000 + fraction;
}

/** A fresh entry for an interaction that has just been created, in the state and with
 * the assignee it starts with (automatic mail starts closed: no entry then). */
export function newEntry(payload) {
  return {
    channel: payload.channel,
    direction: payload.direction,
    state: payload.state ?? "arrived",
    queue_id: payload.queue_id ?? null,
    routed_queue_id: null,
    assigned_user_id: payload.assigned_user_id ?? null,
    queued_us: null,
    answered_us: null,
    ended_us: null,
    inbound: 0,
    outbound: 0,
    notes: 0,
  };
}

/** Apply events in order. */
export function reduce(state, events) {
  let next = state;
  for (const event of events) next = apply(next, event);
  return next;
}

/**
 * Apply one stream event {seq, event_id, event_type, occurred_at, payload}.
 * Events at or below `as_of` were applied already (a replay seam, a reconnect): ignored.
 */
export function apply(state, event) {
  if (event.seq <= state.as_of) return state;
  const next = { ...state, as_of: event.seq };
  if (state.skip.includes(event.event_id)) {
    next.skip = state.skip.filter((id) => id !== event.event_id);
    return next;
  }
  const handle = HANDLERS[event.event_type];
  return handle ? handle(next, event.payload, toMicros(event.occurred_at)) : next;
}

/** The part of a state that a fresh snapshot must reproduce (no bookkeeping). */
export function comparable(state) {
  return { agents: state.agents, offers: state.offers, work: state.work, kpi: state.kpi };
}

// -- work entries ----------------------------------------------------------------------

/** state with work[id] replaced by `after` (null removes it), keeping figures in step. */
function putWork(state, id, after) {
  const before = state.work[id];
  const work = { ...state.work };
  if (after === null || TERMINAL.has(after.state)) delete work[id];
  else work[id] = after;
  let kpi = state.kpi;
  if (kpi !== null && state.day) {
    kpi = addContribution(kpi, contribution(before, state.day), -1);
    kpi = addContribution(kpi, contribution(after, state.day), +1);
  }
  return { ...state, work, kpi };
}

function interactionCreated(state, p) {
  if (state.work[p.interaction_id]) return state;
  return putWork(state, p.interaction_id, newEntry(p));
}

function interactionStateChanged(state, p, at) {
  const before = state.work[p.interaction_id];
  if (!before) {
    // Ending work we never tracked changes nothing; anything else came into our reach
    // from outside (another team's work assigned to us): only a snapshot knows its past.
    return TERMINAL.has(p.to_state) ? state : { ...state, stale: true };
  }
  const after = {
    ...before,
    state: p.to_state,
    queue_id: p.queue_id ?? null,
    assigned_user_id: p.assigned_user_id ?? null,
  };
  // KPI times are set the first time their state is reached, like the server's.
  if (p.to_state === "queued" && after.queued_us == null) after.queued_us = at;
  if (p.to_state === "connected" && after.answered_us == null) after.answered_us = at;
  if ((p.to_state === "wrap_up" || p.to_state === "abandoned") && after.ended_us == null) {
    after.ended_us = at;
  }
  // Work handed away from the viewer (a transfer, a decline, a reassignment) stays in
  // their reach only through its team, which a lifecycle move does not change.
  const handedAway = before.assigned_user_id === state.user_id && after.assigned_user_id !== state.user_id;
  return handedAway ? putReached(state, p.interaction_id, after) : putWork(state, p.interaction_id, after);
}

/** The team of `entry`: its queue's (null when only a snapshot can tell). */
function teamOf(state, entry) {
  return entry.queue_id == null ? null : (state.reach.queue_teams[entry.queue_id] ?? null);
}

/** putWork, unless the entry (of team `team`, by default its queue's) is now out of the
 * viewer's reach: then it leaves; or its team is unknown: then reload. */
function putReached(state, id, entry, team = undefined) {
  const reach = state.reach;
  if (reach == null || entry.assigned_user_id === state.user_id) return putWork(state, id, entry);
  const owner = team === undefined ? teamOf(state, entry) : team;
  if (owner == null) return { ...state, stale: true };
  return putWork(state, id, reach.team_ids.includes(owner) ? entry : null);
}

// Messages are counted, not timed: channel intake stamps a message with the time it took
// it in, which need not be the event's time, so when the customer has been waiting comes
// from the interaction's card (fetched), never from event times.
function messageAdded(state, p) {
  const before = state.work[p.interaction_id];
  if (!before) return state;
  const field = p.internal ? "notes" : p.direction === "inbound" ? "inbound" : "outbound";
  return putWork(state, p.interaction_id, { ...before, [field]: before[field] + 1 });
}

// Routing keeps its own idea of where work waits: an entry's queue changes when routing
// takes the work (WorkQueued) and when a supervisor, an overflow step or a queue limit
// moves it (WorkMoved). The interaction's own queue_id is the one it arrived in, unless
// WorkMoved names teams: then the interaction moved with it (its queue, and its team
// when the new queue has one), and it may leave or enter the viewer's reach.
function workQueued(state, p) {
  const before = state.work[p.interaction_id];
  if (!before) return state;
  return putWork(state, p.interaction_id, { ...before, routed_queue_id: p.queue_id });
}

function workMoved(state, p) {
  const before = state.work[p.interaction_id];
  const follows = "to_team_id" in p;
  const newTeam = follows && p.to_team_id != null && p.to_team_id !== p.from_team_id;
  if (!before) {
    // Another team's work moved into ours: only a snapshot knows its past.
    const ours = newTeam && state.reach != null && state.reach.team_ids.includes(p.to_team_id);
    return ours ? { ...state, stale: true } : state;
  }
  const after = { ...before, routed_queue_id: p.to_queue_id };
  if (follows) after.queue_id = p.to_queue_id;
  return newTeam ? putReached(state, p.interaction_id, after, p.to_team_id) : putWork(state, p.interaction_id, after);
}

// -- agents and offers -----------------------------------------------------------------

function agentStateChanged(state, p, at) {
  const agents = { ...state.agents };
  if (p.to_state === "offline") delete agents[p.agent_id];
  else agents[p.agent_id] = { state: p.to_state, reason: p.reason ?? null, since_us: at };
  return { ...state, agents };
}

function offerCreated(state, p, at) {
  const offer = {
    interaction_id: p.interaction_id,
    agent_id: p.agent_id,
    queue_id: p.queue_id,
    channel: p.channel,
    ring_timeout_seconds: p.ring_timeout_seconds,
    offered_us: at,
  };
  return { ...state, offers: { ...state.offers, [p.offer_id]: offer } };
}

function offerEnded(state, p) {
  if (!state.offers[p.offer_id]) return state;
  const offers = { ...state.offers };
  delete offers[p.offer_id];
  return { ...state, offers };
}

function configurationChanged(state, p) {
  const mine = p.user_id !== undefined && p.user_id === state.user_id;
  return state.kpi !== null || mine ? { ...state, stale: true } : state;
}

const HANDLERS = {
  InteractionCreated: interactionCreated,
  InteractionStateChanged: interactionStateChanged,
  MessageAdded: messageAdded,
  WorkQueued: workQueued,
  WorkMoved: workMoved,
  AgentStateChanged: agentStateChanged,
  OfferCreated: offerCreated,
  OfferAccepted: offerEnded,
  OfferDeclined: offerEnded,
  OfferExpired: offerEnded,
  OfferRetracted: offerEnded,
};
for (const type of RELOAD_FOR_FIGURES) HANDLERS[type] = configurationChanged;
