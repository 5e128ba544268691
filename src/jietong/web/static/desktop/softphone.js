// Softphone controls in the desk: answer (accept the call's offer; the agent's registered
// phone carries the audio), hold, mute, transfer to a number, DTMF keypad, hang up, and
// recording pause/resume, all through /api/v1/voice/calls. The call's own state (held,
// muted, recording) lives in the orchestrator: it is read from the API whenever a call or
// offer event arrives on the event stream (/api/v1/stream), after each action, and every
// few seconds as a fallback while the controls are on screen.

import { createApi } from "./api.js";
import { pageConfig } from "./dom.js";

const WORDS = {
  en: {
    pause: "Pause recording",
    resume: "Resume recording",
    unhold: "Resume",
    unmute: "Unmute",
    number: "Number",
    send: "Send",
    transferTo: "Transfer",
    ringing: "Ringing: answer on your phone or here",
    bridged: "Connected",
    queued: "Waiting in the queue",
    ivr: "In the IVR",
    held: "on hold",
    muted: "muted",
    recording: "recording",
    paused: "recording paused",
    none: "No call",
    failed: "Not done",
  },
  "zh-CN": {
    pause: "暂停录音",
    resume: "继续录音",
    unhold: "恢复通话",
    unmute: "取消静音",
    number: "号码",
    send: "发送",
    transferTo: "转接",
    ringing: "来电：请在话机或此处接听",
    bridged: "通话中",
    queued: "排队中",
    ivr: "语音导航中",
    held: "保持中",
    muted: "已静音",
    recording: "录音中",
    paused: "录音已暂停",
    none: "无通话",
    failed: "操作未完成",
  },
};

export function wordsFor(lang) {
  return WORDS[lang] ?? (String(lang).startsWith("zh") ? WORDS["zh-CN"] : WORDS.en);
}

/** What the controls show for a call (null: no call) and a pending call offer. */
export function controlState(call, offer) {
  const bridged = call?.phase === "bridged";
  return {
    answer: Boolean(offer),
    hold: bridged,
    mute: bridged,
    transfer: bridged,
    dtmf: bridged,
    hangup: Boolean(call),
    record: bridged && Boolean(call?.recording),
    held: Boolean(call?.held),
    muted: Boolean(call?.muted),
    paused: Boolean(call?.recording_paused),
  };
}

export function statusText(words, call, offer) {
  if (!call) return offer ? words.ringing : words.none;
  const parts = [words[call.phase] ?? call.phase];
  if (call.held) parts.push(words.held);
  if (call.muted) parts.push(words.muted);
  if (call.recording) parts.push(call.recording_paused ? words.paused : words.recording);
  return parts.join(" · ");
}

export function createSoftphone(root, api, words) {
  const buttons = Object.fromEntries(
    [...root.querySelectorAll("button[data-softphone]")].map((b) => [b.dataset.softphone, b]),
  );
  const labels = Object.fromEntries(Object.entries(buttons).map(([k, b]) => [k, b.textContent]));
  const status = root.querySelector("[data-softphone-status]");
  const pad = root.querySelector("[data-softphone-pad]");
  const transfer = root.querySelector("[data-softphone-transfer]");
  let call = null;
  let offer = null;

  const path = (suffix) => `/api/v1/voice/calls/${call.interaction_id}/${suffix}`;

  async function act(work) {
    try {
      const result = await work();
      if (result && result.interaction_id) call = result;
      render();
    } catch (error) {
      status.textContent = `${words.failed}: ${error.message}`;
    }
  }

  function render() {
    const state = controlState(call, offer);
    for (const [name, button] of Object.entries(buttons)) button.disabled = !state[name];
    buttons.hold.textContent = state.held ? words.unhold : labels.hold;
    buttons.mute.textContent = state.muted ? words.unmute : labels.mute;
    buttons.record.textContent = state.paused ? words.resume : words.pause;
    buttons.hold.setAttribute("aria-pressed", String(state.held));
    buttons.mute.setAttribute("aria-pressed", String(state.muted));
    if (!state.dtmf) pad.hidden = true;
    if (!state.transfer) transfer.hidden = true;
    status.textContent = statusText(words, call, offer);
  }

  buttons.answer.addEventListener("click", () =>
    act(() => api.post(`/api/v1/offers/${offer.id}/accept`).then(() => (offer = null))),
  );
  buttons.hold.addEventListener("click", () => act(() => api.post(path("hold"), { on: !call.held })));
  buttons.mute.addEventListener("click", () => act(() => api.post(path("mute"), { on: !call.muted })));
  buttons.record.addEventListener("click", () =>
    act(() => api.post(path("recording"), { paused: !call.recording_paused })),
  );
  buttons.hangup.addEventListener("click", () =>
    act(() => api.post(path("hangup")).then(() => (call = null))),
  );
  buttons.dtmf.addEventListener("click", () => (pad.hidden = !pad.hidden));
  buttons.transfer.addEventListener("click", () => {
    transfer.hidden = !transfer.hidden;
    if (!transfer.hidden) transfer.querySelector("input").focus();
  });
  pad.addEventListener("click", (event) => {
    const key = event.target.closest("button[data-key]");
    if (key) act(() => api.post(path("dtmf"), { digits: key.dataset.key }));
  });
  transfer.addEventListener("submit", (event) => {
    event.preventDefault();
    const number = transfer.querySelector("input").value.trim();
    act(() => api.post(path("transfer"), { number, mode: "blind" }));
  });

  async function refresh() {
    if (root.hidden) return;
    try {
      const [calls, offers] = await Promise.all([
        api.get("/api/v1/voice/calls"),
        api.get("/api/v1/offers"),
      ]);
      call = calls[0] ?? null;
      offer = offers.find((o) => o.channel === "call") ?? null;
      render();
    } catch {
      // Offline for a moment: keep what is shown; the next poll tries again.
    }
  }

  render();
  return { refresh, render, get call() { return call; } };
}

function buildExtras(root, words) {
  const record = document.createElement("button");
  record.type = "button";
  record.dataset.softphone = "record";
  record.disabled = true;
  root.querySelector("[data-softphone-status]").before(record);
  const pad = root.querySelector("[data-softphone-pad]");
  for (const key of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"]) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.key = key;
    button.textContent = key;
    pad.append(button);
  }
  const transfer = root.querySelector("[data-softphone-transfer]");
  const input = document.createElement("input");
  input.type = "tel";
  input.required = true;
  input.maxLength = 32;
  input.pattern = "[+0-9 ()-]{2,32}";
  input.setAttribute("aria-label", words.number);
  input.placeholder = words.number;
  const send = document.createElement("button");
  send.type = "submit";
  send.textContent = words.transferTo;
  transfer.append(input, send);
}

/** Events after which the call's state may have changed. */
export function concernsCalls(eventType) {
  return /^(Call|Offer|InteractionStateChanged$)/.test(eventType);
}

function listener(onChange) {
  // The stream replays from `after`; a first connection from 0 learns the position from
  // its hello (or is told to resnapshot when the history is long) and reconnects there.
  // Open only while the controls are on screen (a call conversation is selected).
  let position = 0;
  let socket = null;
  let wanted = false;
  const open = () => {
    if (!wanted || socket) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/api/v1/stream?after=${position}`);
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "hello" && position === 0) position = data.position;
      if (data.type === "event") {
        position = Math.max(position, data.seq);
        if (concernsCalls(data.event_type)) onChange();
      }
    };
    socket.onclose = () => {
      socket = null;
      if (wanted) setTimeout(open, 3000);
    };
  };
  return {
    want(on) {
      wanted = on;
      if (on) open();
      else if (socket) socket.close();
    },
  };
}

const root = typeof document !== "undefined" ? document.getElementById("softphone") : null;
if (root) {
  const words = wordsFor(document.documentElement.lang);
  buildExtras(root, words);
  const phone = createSoftphone(root, createApi(pageConfig().csrf, { locale: pageConfig().locale }), words);
  let pending = null;
  const soon = () => {
    clearTimeout(pending);
    pending = setTimeout(phone.refresh, 150);
  };
  const stream = listener(soon);
  const shown = () => {
    stream.want(!root.hidden);
    soon();
  };
  shown();
  setInterval(phone.refresh, 5000);
  new MutationObserver(shown).observe(root, { attributes: true, attributeFilter: ["hidden"] });
}
