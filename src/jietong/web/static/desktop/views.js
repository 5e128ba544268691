// What the screens show, computed from the state (pure selectors; no DOM, no clock:
// `nowUs` is passed in so that tests control time).
//
// directory: {users: {id: {name, role, team_ids}}, queues: {id: {name, team_id, channels,
//             target_answer_seconds, target_service_level}}, teams: {id: {name, kind}}}

import { queueOf, ratios, totals } from "./kpi.js";

export const AGENT_STATES = ["available", "ringing", "busy", "wrap_up", "not_ready", "offline"];
const WAITING = new Set(["queued", "offered"]);
const MINE = new Set(["offered", "connected", "wrap_up"]);

const byTime = (field) => (a, b) => (a[field] ?? 0) - (b[field] ?? 0) || (a.id < b.id ? -1 : 1);
// Ids are UUIDv7: in the order the interactions were created.
const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The viewer's open conversations (offered, connected, wrapping up), oldest first. */
export function myConversations(state) {
  return Object.entries(state.work)
    .filter(([, e]) => e.assigned_user_id === state.user_id && MINE.has(e.state))
    .map(([id, e]) => ({ id, ...e }))
    .sort(byId);
}

/** Pending offers made to the viewer, oldest first. */
export function myOffers(state) {
  return Object.entries(state.offers)
    .filter(([, o]) => o.agent_id === state.user_id)
    .map(([id, o]) => ({ id, ...o }))
    .sort(byTime("offered_us"));
}

/** Whole seconds of ringing left (never negative). */
export function ringRemaining(offer, nowUs) {
  const endUs = offer.offered_us + offer.ring_timeout_seconds * 1e6;
  return Math.max(0, Math.ceil((endUs - nowUs) / 1e6));
}

/** Seconds since `sinceUs`, or null. */
export function secondsSince(sinceUs, nowUs) {
  return sinceUs == null ? null : Math.max(0, Math.floor((nowUs - sinceUs) / 1e6));
}

/** The viewer's own presence ({state, reason, since_us}); offline when unknown. */
export function myPresence(state) {
  return state.agents[state.user_id] ?? { state: "offline", reason: null, since_us: null };
}

function agentIdsOf(directory, queue) {
  return Object.entries(directory.users)
    .filter(([, u]) => u.role === "agent" || u.role === "supervisor")
    .filter(([, u]) => !queue || !queue.team_id || u.team_ids.includes(queue.team_id))
    .map(([id]) => id);
}

/** Counts of agents per presence state, for the agents serving `queue` (all if null). */
export function agentsByState(state, directory, queue) {
  const counts = Object.fromEntries(AGENT_STATES.map((s) => [s, 0]));
  for (const id of agentIdsOf(directory, queue)) {
    counts[state.agents[id]?.state ?? "offline"] += 1;
  }
  return counts;
}

/** One wallboard row per queue, in the directory's order. */
export function queueRows(state, directory, nowUs) {
  const waiting = {};
  for (const e of Object.values(state.work)) {
    const queue = queueOf(e);
    if (!queue || !WAITING.has(e.state) || e.queued_us == null) continue;
    const since = e.queued_us;
    const row = (waiting[queue] ??= { count: 0, oldest: since });
    row.count += 1;
    row.oldest = Math.min(row.oldest, since);
  }
  return Object.entries(directory.queues).map(([id, queue]) => ({
    id,
    name: queue.name,
    waiting: waiting[id]?.count ?? 0,
    longestWaitSeconds: waiting[id] ? secondsSince(waiting[id].oldest, nowUs) : null,
    ...ratios(totals(state.kpi ?? {}, [id])),
    target: queue.target_service_level,
    agents: agentsByState(state, directory, queue),
  }));
}

/** Open work per agent (offered, connected, wrapping up). */
function loads(state) {
  const load = {};
  for (const e of Object.values(state.work)) {
    if (e.assigned_user_id && MINE.has(e.state)) {
      load[e.assigned_user_id] = (load[e.assigned_user_id] ?? 0) + 1;
    }
  }
  return load;
}

/** One row per agent: state, reason, seconds in state, open work; by name. */
export function agentRows(state, directory, nowUs) {
  const load = loads(state);
  return agentIdsOf(directory, null)
    .map((id) => {
      const presence = state.agents[id];
      return {
        id,
        name: directory.users[id].name,
        state: presence?.state ?? "offline",
        reason: presence?.reason ?? null,
        secondsInState: presence ? secondsSince(presence.since_us, nowUs) : null,
        load: load[id] ?? 0,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name) || (a.id < b.id ? -1 : 1));
}

/**
 * Interval series of the day for the charts: one point per slot from the first to the
 * current one, summed over `queueIds`: {slot, offered, answered, serviceLevel}.
 */
export function intervalSeries(state, queueIds, nowUs) {
  const day = state.day;
  if (!day || !state.kpi) return [];
  const last = Math.floor((Math.min(nowUs, day.day_end_us - 1) - day.day_start_us) / day.interval_us);
  const points = [];
  for (let slot = 0; slot <= last; slot += 1) {
    const vec = [0, 0, 0, 0, 0];
    for (const id of queueIds) {
      const part = state.kpi[id]?.[String(slot)];
      if (part) for (let i = 0; i < vec.length; i += 1) vec[i] += part[i];
    }
    const r = ratios(vec);
    points.push({ slot, offered: r.offered, answered: r.answered, serviceLevel: r.serviceLevel });
  }
  return points;
}
