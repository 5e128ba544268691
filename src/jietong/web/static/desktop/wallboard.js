// The supervisor wallboard: per-queue figures, agents by state, the day's charts and the
// waiting list, live from the event stream. Supervisors also act from here (agent state
// and skills, move or assign waiting work) through the routing API, which audits them.

import { createApi } from "./api.js";
import { draw, serviceLevelShapes, volumeShapes } from "./charts.js";
import { h, keyed, pageConfig, replace, setText } from "./dom.js";
import { createI18n, duration } from "./i18n.js";
import { queueOf, ratios, totals } from "./kpi.js";
import { browserSocket, Live } from "./live.js";
import { AGENT_STATES, agentRows, agentsByState, intervalSeries, queueRows, secondsSince } from "./views.js";

const config = pageConfig();
const i18n = createI18n(config);
const { t } = i18n;
const api = createApi(config.csrf, { locale: config.locale });
const may = config.may;
const $ = (id) => document.getElementById(id);
let clockOffsetUs = 0;
const nowUs = () => Date.now() * 1000 + clockOffsetUs;
const cards = new Map();
const requested = new Set();
let renderQueued = false;
let lastCharts = "";
let chartsDrawnAt = 0;

const live = new Live({
  loadSnapshot: async () => {
    const snapshot = await api.get("/api/v1/desktop/snapshot?view=wallboard");
    clockOffsetUs = snapshot.server_now_us - Date.now() * 1000;
    fillQueueFilter(snapshot.directory);
    return snapshot;
  },
  openSocket: browserSocket,
  onChange: scheduleRender,
  onStatus: (status) => {
    $("dsk-conn").dataset.status = status;
    $("dsk-conn").title = t(`dsk.conn.${status}`);
  },
});

function toast(message) {
  const box = $("dsk-toast");
  box.textContent = message;
  box.dataset.shown = "true";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.dataset.shown = "false"), 5000);
}

function directory() {
  return live.snapshot?.directory ?? { users: {}, queues: {}, teams: {} };
}

function selectedQueues() {
  const chosen = $("queue-filter").value;
  return chosen ? [chosen] : Object.keys(directory().queues);
}

function fillQueueFilter(dir) {
  const select = $("queue-filter");
  const keep = select.value || new URLSearchParams(location.search).get("queue") || "";
  replace(select, h("option", { value: "" }, t("wall.all_queues")), Object.entries(dir.queues).map(([id, q]) => h("option", { value: id }, q.name)));
  select.value = dir.queues[keep] ? keep : "";
}

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render() {
  const state = live.state;
  if (!state) return;
  const now = nowUs();
  if (state.day && now >= state.day.day_end_us) {
    live.reload(); // a new day: today's figures start again from a fresh snapshot
    return;
  }
  setText($("wall-clock"), i18n.time(now));
  renderTiles(now);
  renderCharts(now);
  renderAgents(now);
  renderWaiting(now);
}

// -- tiles ------------------------------------------------------------------------------

function tile(row) {
  const el = h(
    "article",
    { class: "tile" },
    h("h3", { "data-f": "name" }),
    h(
      "dl",
      {},
      metric("waiting", t("wall.waiting_now")),
      metric("longest", t("wall.longest_wait")),
      metric("sl", t("wall.service_level")),
      metric("asa", t("wall.asa")),
      metric("abandoned", t("wall.abandoned_rate")),
      metric("volume", t("wall.offered_answered")),
    ),
    h("div", { class: "tile-agents", "data-f": "agents" }),
  );
  return el;
}

function metric(key, label) {
  return h("div", { class: `metric m-${key}` }, h("dt", {}, label), h("dd", { "data-f": key }));
}

function updateTile(el, row) {
  const f = (key) => el.querySelector(`[data-f="${key}"]`);
  setText(f("name"), row.name);
  setText(f("waiting"), row.waiting);
  setText(f("longest"), duration(row.longestWaitSeconds));
  setText(f("sl"), i18n.percent(row.serviceLevel));
  setText(f("asa"), row.asaSeconds == null ? "–" : duration(row.asaSeconds));
  setText(f("abandoned"), i18n.percent(row.abandonedRate));
  setText(f("volume"), `${row.offered} / ${row.answered}`);
  el.dataset.sl = row.serviceLevel == null ? "none" : row.serviceLevel >= (row.target ?? 0) ? "ok" : "low";
  el.dataset.waiting = row.waiting > 0 ? "yes" : "no";
  setText(f("agents"), AGENT_STATES.filter((s) => row.agents[s]).map((s) => `${t(`dsk.state.${s}`)} ${row.agents[s]}`).join(" · "));
}

function renderTiles(now) {
  const state = live.state;
  const dir = directory();
  const chosen = new Set(selectedQueues());
  const rows = queueRows(state, dir, now).filter((r) => chosen.has(r.id));
  if (rows.length > 1) rows.unshift(totalRow(rows, state, dir));
  keyed($("tiles"), rows, (r) => r.id, tile, updateTile);
}

function totalRow(rows, state, dir) {
  const waiting = rows.reduce((n, r) => n + r.waiting, 0);
  const longest = Math.max(-1, ...rows.map((r) => r.longestWaitSeconds ?? -1));
  const target = Math.min(...rows.map((r) => r.target ?? 1));
  return {
    id: "*",
    name: t("wall.all_queues"),
    waiting,
    longestWaitSeconds: longest < 0 ? null : longest,
    ...ratios(totals(state.kpi ?? {}, rows.map((r) => r.id))),
    target,
    agents: agentsByState(state, dir, null),
  };
}

// -- charts -----------------------------------------------------------------------------

function renderCharts(now, force = false) {
  const state = live.state;
  const day = state.day;
  if (!day) return;
  // At most once a second: the day's charts need not move with every single event.
  if (!force && lastCharts && performance.now() - chartsDrawnAt < 1000) return;
  chartsDrawnAt = performance.now();
  const queues = selectedQueues();
  const points = intervalSeries(state, queues, now);
  const key = JSON.stringify([points, queues]);
  if (key === lastCharts) return; // redraw only when a figure changed
  lastCharts = key;
  const count = Math.round((day.day_end_us - day.day_start_us) / day.interval_us);
  const slotLabel = (slot) => i18n.time(day.day_start_us + slot * day.interval_us).slice(0, 5);
  const dir = directory();
  const target = Math.min(...queues.map((q) => dir.queues[q]?.target_service_level ?? 0.8));
  const size = { width: 640, height: 180, count, slotLabel };
  replace($("chart-volume"), draw(volumeShapes(points, size), { ...size, label: t("wall.chart.volume") }));
  replace($("chart-sl"), draw(serviceLevelShapes(points, { ...size, target }), { ...size, label: t("wall.chart.service_level") }));
}

// -- agents -----------------------------------------------------------------------------

function renderAgents(now) {
  const state = live.state;
  const dir = directory();
  // With one queue chosen, the agents who serve it (its team's).
  const queue = dir.queues[$("queue-filter").value] ?? null;
  const serves = (id) => !queue?.team_id || dir.users[id].team_ids.includes(queue.team_id);
  const rows = agentRows(state, dir, now).filter((r) => serves(r.id));
  const counts = agentsByState(state, dir, queue);
  setText($("agent-count"), rows.length);
  replace($("agent-states"), AGENT_STATES.map((s) => h("span", { class: `state-chip s-${s}` }, `${t(`dsk.state.${s}`)} ${counts[s]}`)));
  keyed($("agent-rows"), rows, (r) => r.id, agentRow, updateAgentRow);
}

function agentRow(row) {
  const cells = [
    h("td", { "data-f": "name" }),
    h("td", {}, h("span", { class: "state-chip", "data-f": "state" })),
    h("td", { "data-f": "time" }),
    h("td", { "data-f": "load" }),
  ];
  if (may.supervise) {
    cells.push(h("td", {}, h("button", { type: "button", class: "quiet", onclick: () => manageAgent(row.id) }, t("wall.manage"))));
  }
  return h("tr", {}, cells);
}

/** A supervisor's choices for one agent, built when asked for (not 500 times up front). */
function manageAgent(agentId) {
  const select = h(
    "select",
    { "aria-label": t("wall.set_state") },
    h("option", { value: "" }, t("wall.set_state")),
    h("option", { value: "available" }, t("dsk.state.available")),
    ["break", "lunch", "meeting", "training", "back_office", "other"].map((r) =>
      h("option", { value: `not_ready:${r}` }, `${t("dsk.state.not_ready")} · ${t(`dsk.reason.${r}`)}`),
    ),
    h("option", { value: "offline" }, t("dsk.state.offline")),
  );
  const dialog = h("dialog", { class: "act-dialog" });
  const close = () => dialog.close();
  select.addEventListener("change", () => setAgentState(agentId, select).then(close));
  // On a call: listen, whisper to the agent or barge in, on the supervisor's own phone.
  const call = callOf(agentId);
  const supervise = call
    ? h(
        "p",
        { class: "supervise" },
        ["listen", "whisper", "barge"].map((mode) =>
          h("button", { type: "button", "data-mode": mode, onclick: () => superviseCall(call, mode).then(close) }, t(`wall.call_${mode}`)),
        ),
      )
    : "";
  dialog.append(
    h("h3", {}, directory().users[agentId]?.name ?? ""),
    supervise,
    h("label", {}, t("wall.set_state"), select),
    h("button", { type: "button", class: "quiet", onclick: () => (close(), editSkills(agentId)) }, t("wall.skills")),
    " ",
    h("button", { type: "button", class: "quiet", onclick: close }, t("dsk.cancel")),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

function updateAgentRow(el, row) {
  const f = (key) => el.querySelector(`[data-f="${key}"]`);
  setText(f("name"), row.name);
  const chip = f("state");
  chip.className = `state-chip s-${row.state}`;
  setText(chip, t(`dsk.state.${row.state}`) + (row.reason ? ` · ${t(`dsk.reason.${row.reason}`)}` : ""));
  setText(f("time"), duration(row.secondsInState));
  setText(f("load"), row.load);
}

/** The call interaction the agent is connected to, if any. */
function callOf(agentId) {
  const work = live.state.work ?? {};
  const found = Object.entries(work).find(([, w]) => w && w.channel === "call" && w.state === "connected" && w.assigned_user_id === agentId);
  return found ? found[0] : null;
}

async function superviseCall(interactionId, mode) {
  try {
    await api.post(`/api/v1/voice/calls/${interactionId}/supervise`, { mode });
    toast(t("wall.call_ringing_you"));
  } catch (error) {
    toast(error.message);
  }
}

async function setAgentState(agentId, select) {
  const [state, reason] = select.value.split(":");
  select.value = "";
  if (!state) return;
  try {
    await api.put(`/api/v1/agents/${agentId}/presence`, { state, reason: reason ?? null });
    toast(t("wall.state_changed", { name: directory().users[agentId]?.name ?? "" }));
  } catch (error) {
    toast(error.message);
  }
}

async function editSkills(userId) {
  const dialog = $("skills-dialog");
  const form = $("skills-form");
  const [skills, user] = await Promise.all([api.get("/api/v1/skills?limit=200"), api.get(`/api/v1/users/${userId}`)]).catch((e) => {
    toast(e.message);
    return [null, null];
  });
  if (!skills) return;
  setText($("skills-title"), t("wall.skills.title", { name: user.display_name }));
  replace(
    $("skills-fields"),
    skills.items.map((s) =>
      h("label", { class: "skill" }, s.name, h("input", { type: "number", min: 0, max: 10, name: s.id, value: user.skills[s.id] ?? "", placeholder: "–" })),
    ),
  );
  form.querySelector("[data-error]").textContent = "";
  form.onsubmit = async (event) => {
    if (event.submitter?.value !== "save") return;
    event.preventDefault();
    const levels = {};
    for (const input of form.querySelectorAll("input[type=number]")) if (input.value !== "") levels[input.name] = Number(input.value);
    try {
      await api.put(`/api/v1/users/${userId}/skills`, { skills: levels });
      dialog.close();
      toast(t("wall.skills.saved"));
    } catch (error) {
      form.querySelector("[data-error]").textContent = [error.message, ...error.fieldErrors.map((e) => `${e.field}: ${e.message}`)].join(" · ");
    }
  };
  dialog.showModal();
}

// -- waiting list -----------------------------------------------------------------------

function renderWaiting(now) {
  const chosen = new Set(selectedQueues());
  const rows = Object.entries(live.state.work)
    .filter(([, e]) => (e.state === "queued" || e.state === "offered") && chosen.has(queueOf(e)))
    .map(([id, e]) => ({ id, ...e }))
    .sort((a, b) => (a.queued_us ?? 0) - (b.queued_us ?? 0))
    .slice(0, 200);
  setText($("waiting-count"), rows.length);
  keyed($("waiting-rows"), rows, (r) => r.id, waitingRow, (el, r) => updateWaitingRow(el, r, now));
  fetchCards(rows.map((r) => r.id));
}

function waitingRow(row) {
  const cells = [h("td", { "data-f": "queue" }), h("td", { "data-f": "channel" }), h("td", { "data-f": "customer" }), h("td", { "data-f": "waited" })];
  if (may.supervise) {
    // One button per row; the choices are built when opened (500 agents × 200 rows of
    // <option>s would cost seconds on every first render).
    cells.push(h("td", {}, h("button", { type: "button", class: "quiet", onclick: () => chooseAction(row.id) }, t("wall.move_or_assign"))));
  }
  return h("tr", {}, cells);
}

function chooseAction(interactionId) {
  const dir = directory();
  const move = h(
    "select",
    { name: "queue_id", "aria-label": t("wall.move") },
    h("option", { value: "" }, t("wall.move")),
    Object.entries(dir.queues).map(([id, q]) => h("option", { value: id }, q.name)),
  );
  const assign = h(
    "select",
    { name: "agent_id", "aria-label": t("wall.assign") },
    h("option", { value: "" }, t("wall.assign")),
    Object.entries(dir.users)
      .filter(([, u]) => u.role === "agent" || u.role === "supervisor")
      .map(([id, u]) => h("option", { value: id }, u.name)),
  );
  const dialog = h("dialog", { class: "act-dialog" });
  const close = () => dialog.close();
  move.addEventListener("change", () => act(interactionId, "move", { queue_id: move.value }, move).then(close));
  assign.addEventListener("change", () => act(interactionId, "assign", { agent_id: assign.value }, assign).then(close));
  dialog.append(
    h("h3", {}, cards.get(interactionId)?.customer_name ?? t("wall.waiting_list")),
    h("label", {}, t("wall.move"), move),
    h("label", {}, t("wall.assign"), assign),
    h("button", { type: "button", class: "quiet", onclick: close }, t("dsk.cancel")),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

function updateWaitingRow(el, row, now) {
  const f = (key) => el.querySelector(`[data-f="${key}"]`);
  setText(f("queue"), directory().queues[queueOf(row)]?.name ?? "");
  setText(f("channel"), t(`dsk.channel.${row.channel}`));
  const card = cards.get(row.id);
  setText(f("customer"), card?.customer_name ?? card?.subject ?? "…");
  setText(f("waited"), duration(secondsSince(row.queued_us, now)));
  el.dataset.state = row.state;
}

async function act(interactionId, action, body, select) {
  if (!select.value) return;
  select.value = "";
  try {
    await api.post(`/api/v1/routing/interactions/${interactionId}/${action}`, body);
    toast(t(`wall.${action}_done`));
  } catch (error) {
    toast(error.message);
  }
}

async function fetchCards(ids) {
  const missing = ids.filter((id) => !cards.has(id) && !requested.has(id)).slice(0, 100);
  if (!missing.length) return;
  missing.forEach((id) => requested.add(id));
  try {
    for (const card of await api.get(`/api/v1/desktop/interaction-cards?${missing.map((id) => `ids=${id}`).join("&")}`)) {
      cards.set(card.id, card);
    }
    scheduleRender();
  } catch {
    missing.forEach((id) => requested.delete(id));
  }
}

// -- big screen -------------------------------------------------------------------------

function setBig(on) {
  document.body.classList.toggle("big", on);
  $("big-screen").setAttribute("aria-pressed", on ? "true" : "false");
  localStorage.setItem("jietong.wall.big", on ? "1" : "0");
  if (on && document.fullscreenElement == null) document.documentElement.requestFullscreen?.().catch(() => {});
  if (!on && document.fullscreenElement) document.exitFullscreen?.().catch(() => {});
  lastCharts = "";
  scheduleRender();
}

$("big-screen").addEventListener("click", () => setBig(!document.body.classList.contains("big")));
$("queue-filter").addEventListener("change", () => {
  lastCharts = "";
  const url = new URL(location.href);
  url.searchParams.set("queue", $("queue-filter").value);
  history.replaceState(null, "", url);
  scheduleRender();
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && document.body.classList.contains("big")) setBig(false);
});
const wantBig = new URLSearchParams(location.search).get("big") === "1" || localStorage.getItem("jietong.wall.big") === "1";
if (wantBig) document.body.classList.add("big");
setInterval(scheduleRender, 1000);

window.jietong = { live, cards, render };
await live.start();
