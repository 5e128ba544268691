// Today's queue figures as contributions of single interactions (pure).
//
// Mirrors jietong/web/desktop/kpi.py: the server computes the snapshot with the same
// definitions, and a test checks that both agree. An interaction counts for the queue it
// is in now (where routing has it, else the one it arrived in) and for the interval of the
// day in which it was first queued:
//   [offered, answered, answered within the queue's target, abandoned, answer time µs]
// Integers only (times in microseconds), so sums never drift between Python and JS.

export const OFFERED = 0;
export const ANSWERED = 1;
export const IN_SL = 2;
export const ABANDONED = 3;
export const ANSWER_US = 4;

/**
 * The contribution of one interaction entry, or null when it does not count today.
 * @param {object} entry a work entry (state.work[id])
 * @param {{day_start_us:number, day_end_us:number, interval_us:number,
 *          targets:Object<string,number>}} day
 * @returns {{queue:string, slot:string, vec:number[]}|null}
 */
/** The queue an entry is in now: routing's, else the one it arrived in. */
export function queueOf(entry) {
  return entry.routed_queue_id ?? entry.queue_id ?? null;
}

export function contribution(entry, day) {
  const queue = entry ? queueOf(entry) : null;
  if (!queue || entry.queued_us == null) return null;
  if (entry.queued_us < day.day_start_us || entry.queued_us >= day.day_end_us) return null;
  const slot = String(Math.floor((entry.queued_us - day.day_start_us) / day.interval_us));
  const answered = entry.answered_us != null ? 1 : 0;
  const wait = answered ? entry.answered_us - entry.queued_us : 0;
  const target = day.targets[queue];
  const inSl = answered && target != null && wait <= target * 1e6 ? 1 : 0;
  const abandoned = entry.state === "abandoned" ? 1 : 0;
  return { queue, slot, vec: [1, answered, inSl, abandoned, wait] };
}

/**
 * kpi with `sign` times the contribution added; copies only what changes.
 * Slots whose counts all return to zero are removed, as the server never lists them.
 */
export function addContribution(kpi, part, sign) {
  if (!part) return kpi;
  const queue = { ...(kpi[part.queue] || {}) };
  const old = queue[part.slot] || [0, 0, 0, 0, 0];
  const vec = old.map((value, i) => value + sign * part.vec[i]);
  if (vec.every((value) => value === 0)) delete queue[part.slot];
  else queue[part.slot] = vec;
  const next = { ...kpi };
  if (Object.keys(queue).length === 0) delete next[part.queue];
  else next[part.queue] = queue;
  return next;
}

/** Sum of the interval vectors of one queue's figures (or of several queues'). */
export function totals(kpi, queueIds) {
  const sum = [0, 0, 0, 0, 0];
  for (const id of queueIds) {
    for (const vec of Object.values(kpi[id] || {})) {
      for (let i = 0; i < sum.length; i += 1) sum[i] += vec[i];
    }
  }
  return sum;
}

/** Service level, ASA and abandonment from a totals vector (null when nothing to say). */
export function ratios(vec) {
  const finished = vec[ANSWERED] + vec[ABANDONED];
  return {
    offered: vec[OFFERED],
    answered: vec[ANSWERED],
    abandoned: vec[ABANDONED],
    serviceLevel: finished ? vec[IN_SL] / finished : null,
    abandonedRate: finished ? vec[ABANDONED] / finished : null,
    asaSeconds: vec[ANSWERED] ? vec[ANSWER_US] / vec[ANSWERED] / 1e6 : null,
  };
}
