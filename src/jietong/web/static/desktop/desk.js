// The agent desktop: status, offers, conversation tabs, the team's queue; wires the live
// state (snapshot + stream) to the conversation view and the customer panel.

import { createApi } from "./api.js";
import { createConversation } from "./conversation.js";
import { createCustomerPanel } from "./customer.js";
import { h, keyed, pageConfig, replace, setText } from "./dom.js";
import { createI18n, duration } from "./i18n.js";
import { browserSocket, Live } from "./live.js";
import { announce, arm, ring } from "./notify.js";
import { queueOf } from "./kpi.js";
import { actionOf, SHORTCUTS } from "./shortcuts.js";
import { myConversations, myOffers, myPresence, ringRemaining, secondsSince } from "./views.js";

const config = pageConfig();
const i18n = createI18n(config);
const { t } = i18n;
const api = createApi(config.csrf, { locale: config.locale });
const $ = (id) => document.getElementById(id);
let clockOffsetUs = 0; // server clock minus ours, so countdowns match the server's
const nowUs = () => Date.now() * 1000 + clockOffsetUs;
const SEEN_KEY = "jietong.desk.seen";
const seen = JSON.parse(sessionStorage.getItem(SEEN_KEY) || "{}"); // id -> inbound count read
const cards = new Map();
const requested = new Set();
const refetch = new Set();
let selected = config.open;
let renderQueued = false;

function toast(message) {
  const box = $("dsk-toast");
  box.textContent = message;
  box.dataset.shown = "true";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.dataset.shown = "false"), 5000);
}

const live = new Live({
  loadSnapshot: async () => {
    const snapshot = await api.get("/api/v1/desktop/snapshot?view=desk");
    clockOffsetUs = snapshot.server_now_us - Date.now() * 1000;
    return snapshot;
  },
  openSocket: browserSocket,
  onChange: scheduleRender,
  onEvent: onEvent,
  onStatus: (status) => {
    const dot = $("dsk-conn");
    dot.dataset.status = status;
    dot.title = t(`dsk.conn.${status}`);
  },
});

const ctx = {
  api,
  t,
  i18n,
  live,
  cards,
  toast,
  nowUs,
  me: config.user,
  org: { name: config.org_name },
  directory: () => live.snapshot?.directory ?? { users: {}, queues: {}, teams: {} },
  select: (id) => select(id),
  done: (id) => {
    const next = myConversations(live.state).find((c) => c.id !== id);
    select(next ? next.id : null);
  },
  firstOffered: () => offered()[0]?.interaction_id,
};
ctx.customer = createCustomerPanel(ctx, $("customer"));
const conversation = createConversation(ctx);
ctx.conversation = conversation;

// -- rendering -------------------------------------------------------------------------

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render() {
  if (!live.state) return;
  renderPresence();
  renderOffers();
  renderTabs();
  renderTeamQueue();
  conversation.update();
  fetchCards();
}

function renderPresence() {
  const presence = myPresence(live.state);
  const stateSelect = $("presence-state");
  const chosen = presence.state === "not_ready" || presence.state === "offline" ? presence.state : "available";
  if (document.activeElement !== stateSelect) stateSelect.value = chosen;
  $("presence-reason").hidden = stateSelect.value !== "not_ready";
  if (presence.reason && document.activeElement !== $("presence-reason")) $("presence-reason").value = presence.reason;
  const now = $("presence-now");
  now.dataset.state = presence.state;
  setText(now, t(`dsk.state.${presence.state}`) + (presence.reason ? ` · ${t(`dsk.reason.${presence.reason}`)}` : ""));
  setText($("presence-clock"), duration(secondsSince(presence.since_us, nowUs())));
}

/** Offers to answer: routing's offers, and work offered to me directly (no routing offer). */
function offered() {
  const state = live.state;
  const routed = myOffers(state);
  const covered = new Set(routed.map((o) => o.interaction_id));
  const direct = myConversations(state)
    .filter((c) => c.state === "offered" && !covered.has(c.id))
    .map((c) => ({ id: `direct:${c.id}`, interaction_id: c.id, channel: c.channel, queue_id: queueOf(c), offered_us: null }));
  return [...routed, ...direct];
}

function renderOffers() {
  keyed(
    $("offers"),
    offered(),
    (o) => o.id,
    (o) =>
      h(
        "article",
        { class: "offer", "aria-label": t("desk.offer.incoming") },
        h("header", {}, h("span", { class: `chan chan-${o.channel}` }, t(`dsk.channel.${o.channel}`)), " ", h("strong", { "data-name": "" })),
        h("p", { class: "muted", "data-queue": "" }),
        h("p", { class: "countdown", "data-countdown": "" }),
        h(
          "div",
          { class: "offer-actions" },
          h("button", { type: "button", "data-accept": "", onclick: () => conversation.answer(o.interaction_id, true) }, t("desk.action.accept")),
          h("button", { type: "button", class: "quiet", onclick: () => conversation.answer(o.interaction_id, false) }, t("desk.action.decline")),
        ),
      ),
    (el, o) => {
      const card = cards.get(o.interaction_id);
      setText(el.querySelector("[data-name]"), card?.customer_name ?? card?.subject ?? "…");
      setText(el.querySelector("[data-queue]"), ctx.directory().queues[o.queue_id]?.name ?? "");
      const left = o.offered_us == null ? null : ringRemaining(o, nowUs());
      setText(el.querySelector("[data-countdown]"), left == null ? "" : t("desk.offer.rings", { seconds: left }));
      el.dataset.urgent = left != null && left <= 5 ? "true" : "false";
    },
  );
}

function tabIds() {
  const ids = myConversations(live.state).map((c) => c.id);
  if (selected && !ids.includes(selected)) ids.push(selected); // opened by URL or from the queue
  return ids;
}

function renderTabs() {
  const ids = tabIds();
  const work = live.state.work;
  setText($("conv-count"), ids.length);
  $("tabs-empty").hidden = ids.length > 0;
  if (selected && work[selected] && document.visibilityState === "visible") markSeen(selected);
  keyed(
    $("tabs"),
    ids,
    (id) => id,
    (id) =>
      h(
        "li",
        { role: "tab", tabindex: "0", onclick: () => select(id), onkeydown: (e) => e.key === "Enter" && select(id) },
        h("span", { class: "chan", "data-chan": "" }),
        h("span", { class: "tab-name", "data-name": "" }),
        h("span", { class: "tab-wait", "data-wait": "", title: t("desk.waiting") }),
        h("span", { class: "unread", "data-unread": "" }),
        h("span", { class: "tab-state", "data-state": "" }),
      ),
    (el, id) => {
      const entry = work[id];
      const card = cards.get(id);
      const channel = entry?.channel ?? card?.channel ?? "";
      const chan = el.querySelector("[data-chan]");
      chan.className = `chan chan-${channel}`;
      setText(chan, channel ? t(`dsk.channel.${channel}`) : "");
      setText(el.querySelector("[data-name]"), card?.customer_name ?? card?.subject ?? "…");
      const since = card?.awaiting_since ? Date.parse(card.awaiting_since) * 1000 : null;
      const wait = entry && since != null ? secondsSince(since, nowUs()) : null;
      setText(el.querySelector("[data-wait]"), wait == null ? "" : duration(wait));
      el.dataset.waiting = wait != null && wait > 60 ? "long" : "short";
      const unread = entry && id !== selected ? Math.max(0, entry.inbound - (seen[id] ?? 0)) : 0;
      setText(el.querySelector("[data-unread]"), unread || "");
      el.dataset.unread = unread ? "true" : "false";
      setText(el.querySelector("[data-state]"), t(`dsk.istate.${entry?.state ?? "closed"}`));
      el.setAttribute("aria-selected", id === selected ? "true" : "false");
    },
  );
}

function renderTeamQueue() {
  const work = live.state.work;
  const waiting = Object.entries(work)
    .filter(([, e]) => e.state === "queued")
    .sort((a, b) => (a[1].queued_us ?? 0) - (b[1].queued_us ?? 0))
    .slice(0, 50);
  setText($("queue-count"), waiting.length);
  keyed(
    $("team-queue"),
    waiting,
    ([id]) => id,
    ([id]) => h("li", { onclick: () => select(id) }, h("span", { "data-name": "" }), " ", h("span", { class: "tab-wait", "data-wait": "" })),
    (el, [id, e]) => {
      const card = cards.get(id);
      setText(el.querySelector("[data-name]"), `${t(`dsk.channel.${e.channel}`)} · ${card?.customer_name ?? card?.subject ?? "…"}`);
      setText(el.querySelector("[data-wait]"), duration(secondsSince(e.queued_us, nowUs())));
    },
  );
}

/** Fetch the cards (subject, customer) of interactions shown but not yet known. */
async function fetchCards() {
  const state = live.state;
  const wanted = new Set([...tabIds(), ...offered().map((o) => o.interaction_id), ...Object.keys(state.work)]);
  const missing = [...wanted].filter((id) => !cards.has(id) && !requested.has(id)).slice(0, 100);
  if (!missing.length) return;
  missing.forEach((id) => requested.add(id));
  try {
    const query = missing.map((id) => `ids=${id}`).join("&");
    for (const card of await api.get(`/api/v1/desktop/interaction-cards?${query}`)) cards.set(card.id, card);
    scheduleRender();
    if (selected && missing.includes(selected)) conversation.open(selected);
  } catch (error) {
    missing.forEach((id) => requested.delete(id));
  }
}

/** Fetch a card again soon (several messages in a burst cost one request). */
function staleCard(id) {
  if (!cards.has(id)) return;
  refetch.add(id);
  clearTimeout(staleCard.timer);
  staleCard.timer = setTimeout(async () => {
    const ids = [...refetch].slice(0, 100);
    refetch.clear();
    try {
      for (const card of await api.get(`/api/v1/desktop/interaction-cards?${ids.map((i) => `ids=${i}`).join("&")}`)) {
        cards.set(card.id, card);
      }
      scheduleRender();
    } catch {
      ids.forEach((i) => requested.delete(i));
    }
  }, 300);
}

function markSeen(id) {
  const inbound = live.state.work[id]?.inbound ?? 0;
  if (seen[id] === inbound) return;
  seen[id] = inbound;
  sessionStorage.setItem(SEEN_KEY, JSON.stringify(seen));
}

function select(id) {
  selected = id;
  history.replaceState(null, "", id ? `/desk/conversations/${id}` : "/desk");
  if (id) conversation.open(id);
  else conversation.close();
  scheduleRender();
}

// -- events ----------------------------------------------------------------------------

function onEvent(event, state) {
  const p = event.payload;
  const me = config.user.id;
  if (event.event_type === "OfferCreated" && p.agent_id === me) alertOffer(p.interaction_id);
  if (event.event_type === "InteractionStateChanged" && p.to_state === "offered" && p.assigned_user_id === me) {
    if (!Object.values(state.offers).some((o) => o.interaction_id === p.interaction_id)) alertOffer(p.interaction_id);
  }
  if (event.event_type === "MessageAdded") {
    if (p.interaction_id === conversation.id) conversation.refreshMessages();
    staleCard(p.interaction_id); // its waiting time changed
  }
  if (event.event_type === "ColleagueMentioned" && p.user_id === me) {
    toast(t("desk.mentioned"));
    announce(t("desk.mentioned"), "", `mention-${p.message_id}`);
    loadMentions();
  }
  if (["CustomerUpdated", "ContactPointAdded", "ContactPointRemoved"].includes(event.event_type)) {
    ctx.customer.refresh(p.customer_id);
  }
  if (event.event_type === "CustomersMerged") ctx.customer.refresh(p.loser_id) || ctx.customer.refresh(p.survivor_id);
}

function alertOffer(interactionId) {
  ring();
  const card = cards.get(interactionId);
  announce(t("desk.offer.incoming"), card?.customer_name ?? "", `offer-${interactionId}`);
}

// -- mentions ----------------------------------------------------------------------------

/** Unread notes that mention me, on work I may see; opening one marks it read. */
async function loadMentions() {
  let mentions = [];
  try {
    mentions = await api.get("/api/v1/desktop/mentions");
  } catch {
    return;
  }
  $("mentions-box").hidden = mentions.length === 0;
  setText($("mention-count"), mentions.length);
  keyed(
    $("mentions"),
    mentions,
    (m) => m.id,
    (m) => h("li", { onclick: () => openMention(m) }, h("span", { "data-name": "" }), " ", h("time", {}, i18n.dateTime(m.created_at))),
    (el, m) => {
      const author = ctx.directory().users[m.author_user_id]?.name ?? t("desk.colleague");
      setText(el.querySelector("[data-name]"), author);
    },
  );
}

async function openMention(mention) {
  await api.post(`/api/v1/desktop/mentions/${mention.id}/read`).catch(() => {});
  select(mention.interaction_id);
  loadMentions();
}

// -- controls --------------------------------------------------------------------------

async function setPresence() {
  const state = $("presence-state").value;
  const reason = state === "not_ready" ? $("presence-reason").value : null;
  $("presence-reason").hidden = state !== "not_ready";
  try {
    await api.put("/api/v1/agents/me/presence", { state, reason });
  } catch (error) {
    toast(error.message);
    scheduleRender();
  }
}

function onKey(event) {
  const found = actionOf(event);
  if (!found) return;
  event.preventDefault();
  const ids = tabIds();
  if (found.action === "tab") return ids[found.index] && select(ids[found.index]);
  if (found.action === "next" || found.action === "previous") {
    const at = ids.indexOf(selected);
    const next = ids[(at + (found.action === "next" ? 1 : ids.length - 1)) % ids.length];
    return next && select(next);
  }
  if (found.action === "status") return $("presence-state").focus();
  conversation.act(found.action);
}

function listShortcuts() {
  replace(
    $("shortcut-list"),
    SHORTCUTS.map((s) => [h("dt", {}, h("kbd", {}, s.keys)), h("dd", {}, t(s.label))]),
  );
}

$("presence-state").addEventListener("change", setPresence);
$("presence-reason").addEventListener("change", setPresence);
document.addEventListener("keydown", onKey);
document.addEventListener("click", arm, { once: true });
document.addEventListener("visibilitychange", scheduleRender);
setInterval(scheduleRender, 1000); // clocks: time in state, ring countdowns, waiting times
listShortcuts();

// The bench and the browser tests read the live state through this handle.
window.jietong = { live, cards, select, render };
await live.start();
if (selected) select(selected);
loadMentions();
