// The open conversation: its thread, its actions (accept, decline, end, transfer, case,
// wrap-up) and the composer for its channel. The server decides what is allowed; the
// buttons shown merely follow the interaction's state.

import {
  cannedVariables,
  expandCanned,
  mentionAt,
  mentionCandidates,
  mentionedIds,
  parseAddresses,
  smsSegments,
} from "./composer.js";
import { h, keyed, replace, setText } from "./dom.js";
import { queueOf } from "./kpi.js";
import { sanitise, sanitiseHtml, toPlainText } from "./richtext.js";

const PAGE = 200;
const cursorOf = (id) => btoa(id).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

export function createConversation(ctx) {
  const $ = (id) => document.getElementById(id);
  const els = {
    empty: $("conversation-empty"),
    view: $("conversation-view"),
    title: $("conv-title"),
    meta: $("conv-meta"),
    actions: $("conv-actions"),
    thread: $("thread"),
    softphone: $("softphone"),
    composer: $("composer"),
    text: $("composer-text"),
    rich: $("rich"),
    emailFields: $("email-fields"),
    counter: $("composer-counter"),
    note: $("note-toggle"),
    canned: $("canned-input"),
    cannedList: $("canned-list"),
    mentions: $("mention-list"),
    error: $("composer-error"),
    transfer: $("transfer-form"),
    caseForm: $("case-form"),
    wrapup: $("wrapup-form"),
  };
  let id = null;
  let messages = [];
  let attachments = new Map(); // message id -> [attachment]
  let canned = [];
  let wrapupCodes = null;
  let noteForced = false; // note mode because replying was not possible, not by choice

  // -- opening and updating --------------------------------------------------------------

  async function open(interactionId) {
    id = interactionId;
    messages = [];
    attachments = new Map();
    replace(els.thread);
    for (const form of [els.transfer, els.caseForm]) form.hidden = true;
    els.empty.hidden = true;
    els.view.hidden = false;
    update();
    await Promise.all([loadMessages(), loadCanned()]);
    const card = ctx.cards.get(id);
    ctx.customer.show(card?.customer_id ?? null, id);
    focusComposer();
  }

  function close() {
    id = null;
    els.view.hidden = true;
    els.empty.hidden = false;
  }

  /** Refresh header, actions and composer from the state and the card. */
  function update() {
    if (!id) return;
    const entry = ctx.live.state.work[id];
    const card = ctx.cards.get(id);
    const state = entry?.state ?? "closed";
    const mine = entry?.assigned_user_id === ctx.me.id;
    const title = card ? [card.customer_name ?? ctx.t("desk.unknown_customer"), card.subject].filter(Boolean) : ["…"];
    setText(els.title, title.join(" · "));
    const channel = entry?.channel ?? card?.channel;
    setText(
      els.meta,
      [ctx.t(`dsk.channel.${channel}`), ctx.t(`dsk.istate.${state}`), queueName(entry ? queueOf(entry) : null)].filter(Boolean).join(" · "),
    );
    const show = {
      accept: mine && state === "offered",
      decline: mine && state === "offered",
      transfer: mine && state === "connected",
      end: mine && state === "connected",
      case: Boolean(entry) || Boolean(card),
    };
    for (const button of els.actions.querySelectorAll("button[data-action]")) {
      button.hidden = !show[button.dataset.action];
    }
    els.softphone.hidden = channel !== "call";
    els.composer.hidden = !entry || !["connected", "wrap_up", "offered", "queued"].includes(state);
    // Only notes until the agent may reply; once they may, back to replying unless they
    // chose a note themselves.
    const replying = mine && state === "connected" && channel !== "call";
    if (!replying && !els.note.checked) {
      els.note.checked = true;
      noteForced = true;
    } else if (replying && noteForced) {
      els.note.checked = false;
      noteForced = false;
    }
    els.note.disabled = !replying;
    const email = channel === "email" && !els.note.checked;
    els.emailFields.hidden = !email;
    els.text.hidden = email;
    els.composer.dataset.channel = channel ?? "";
    els.composer.dataset.mode = els.note.checked ? "note" : "reply";
    countCharacters();
    if (mine && state === "wrap_up") showWrapup();
    else els.wrapup.hidden = true;
  }

  function queueName(queueId) {
    return queueId ? ctx.directory().queues[queueId]?.name : null;
  }

  // -- the thread -------------------------------------------------------------------------

  async function loadMessages() {
    const forId = id;
    try {
      for (;;) {
        const after = messages.length ? `&cursor=${cursorOf(messages.at(-1).id)}` : "";
        const page = await ctx.api.get(`/api/v1/interactions/${forId}/messages?limit=${PAGE}${after}`);
        if (forId !== id) return;
        messages.push(...page.items);
        if (page.items.length < PAGE) break;
      }
      const files = await ctx.api.get(`/api/v1/interactions/${forId}/attachments`);
      if (forId !== id) return;
      attachments = new Map();
      for (const file of files) {
        const list = attachments.get(file.message_id) ?? [];
        list.push(file);
        attachments.set(file.message_id, list);
      }
      renderThread();
    } catch (error) {
      if (forId === id) ctx.toast(error.message);
    }
  }

  function renderThread() {
    const atBottom = els.thread.scrollHeight - els.thread.scrollTop - els.thread.clientHeight < 40;
    keyed(els.thread, messages, (m) => m.id, renderMessage, () => {});
    if (atBottom || messages.length < 3) els.thread.scrollTop = els.thread.scrollHeight;
  }

  function renderMessage(m) {
    const kind = m.internal ? "note" : m.direction;
    const author = m.author_user_id
      ? (ctx.directory().users[m.author_user_id]?.name ?? ctx.t("desk.colleague"))
      : m.author_kind === "customer"
        ? (ctx.cards.get(id)?.customer_name ?? ctx.t("desk.customer.title"))
        : ctx.t("desk.system");
    const files = attachments.get(m.id) ?? [];
    return h(
      "li",
      { class: `msg msg-${kind}` },
      h(
        "div",
        { class: "msg-head" },
        h("strong", {}, author),
        m.internal ? h("span", { class: "badge note" }, ctx.t("desk.internal_note")) : null,
        h("time", { datetime: m.created_at }, ctx.i18n.dateTime(m.created_at)),
      ),
      h("div", { class: "msg-body" }, m.body_text),
      files.length
        ? h(
            "ul",
            { class: "files" },
            files.map((f) =>
              h("li", {}, h("a", { href: `/api/v1/interactions/${m.interaction_id}/attachments/${f.id}/content` }, f.filename)),
            ),
          )
        : null,
    );
  }

  // -- actions ------------------------------------------------------------------------------

  function offerOf(interactionId) {
    const offers = ctx.live.state.offers;
    return Object.keys(offers).find((k) => offers[k].interaction_id === interactionId && offers[k].agent_id === ctx.me.id);
  }

  /** Accept or decline: through the routing offer when there is one, else the lifecycle. */
  async function answer(interactionId, accept) {
    const offerId = offerOf(interactionId);
    try {
      if (offerId) await ctx.api.post(`/api/v1/offers/${offerId}/${accept ? "accept" : "decline"}`);
      else await transition(interactionId, accept ? "accept" : "decline");
      if (accept) ctx.select(interactionId);
    } catch (error) {
      ctx.toast(error.message);
    }
  }

  function transition(interactionId, trigger) {
    return ctx.api.post(`/api/v1/interactions/${interactionId}/transitions`, { trigger });
  }

  async function act(action) {
    if (!id && action !== "accept" && action !== "decline") return;
    if (action === "accept" || action === "decline") {
      const target = id && ctx.live.state.work[id]?.state === "offered" ? id : ctx.firstOffered();
      if (target) await answer(target, action === "accept");
    } else if (action === "end") {
      await transition(id, "end").catch((error) => ctx.toast(error.message));
    } else if (action === "transfer") {
      showTransfer();
    } else if (action === "case") {
      showCase();
    } else if (action === "note") {
      if (!els.note.disabled) els.note.checked = !els.note.checked;
      noteForced = false;
      update();
      focusComposer();
    } else if (action === "reply") {
      if (!els.note.disabled) els.note.checked = false;
      noteForced = false;
      update();
      focusComposer();
    } else if (action === "send") {
      els.composer.requestSubmit();
    }
  }

  function formError(form, error) {
    const box = form.querySelector("[data-error]");
    const fields = error.fieldErrors?.map((e) => `${e.field}: ${e.message}`) ?? [];
    box.textContent = [error.message, ...fields].join(" · ");
  }

  function showTransfer() {
    const form = els.transfer;
    const select = form.elements.target;
    const dir = ctx.directory();
    const option = (value, label) => h("option", { value }, label);
    replace(
      select,
      h(
        "optgroup",
        { label: ctx.t("desk.transfer.agents") },
        Object.entries(dir.users)
          .filter(([uid, u]) => uid !== ctx.me.id && (u.role === "agent" || u.role === "supervisor"))
          .map(([uid, u]) => option(`agent:${uid}`, u.name)),
      ),
      h("optgroup", { label: ctx.t("desk.transfer.queues") }, Object.entries(dir.queues).map(([qid, q]) => option(`queue:${qid}`, q.name))),
      h(
        "optgroup",
        { label: ctx.t("desk.transfer.departments") },
        Object.entries(dir.teams)
          .filter(([, team]) => team.kind === "department")
          .map(([tid, team]) => option(`department:${tid}`, team.name)),
      ),
    );
    form.querySelector("[data-error]").textContent = "";
    form.hidden = false;
    select.focus();
  }

  async function submitTransfer(event) {
    event.preventDefault();
    const form = els.transfer;
    const [kind, targetId] = form.elements.target.value.split(":");
    try {
      await ctx.api.post(`/api/v1/desktop/interactions/${id}/transfer`, {
        target: kind,
        target_id: targetId,
        note: form.elements.note.value,
      });
      form.hidden = true;
      form.reset();
      ctx.toast(ctx.t("desk.transfer.done"));
    } catch (error) {
      formError(form, error);
    }
  }

  async function showCase() {
    const form = els.caseForm;
    const card = ctx.cards.get(id);
    form.querySelector("[data-error]").textContent = "";
    const existing = form.elements.existing;
    replace(existing, h("option", { value: "" }, ctx.t("desk.case.new")));
    if (card?.customer_id) {
      const page = await ctx.api.get(`/api/v1/cases?customer_id=${card.customer_id}&limit=50`).catch(() => ({ items: [] }));
      for (const c of page.items.filter((c) => !["closed", "cancelled"].includes(c.status))) {
        existing.append(h("option", { value: c.id }, `#${c.number} ${c.subject}`));
      }
    }
    const departments = Object.entries(ctx.directory().teams);
    replace(
      form.elements.department_id,
      h("option", { value: "" }, ctx.t("desk.case.no_department")),
      departments.map(([tid, team]) => h("option", { value: tid }, team.name)),
    );
    form.elements.subject.value = card?.subject ?? "";
    form.hidden = false;
    form.elements.subject.focus();
  }

  async function submitCase(event) {
    event.preventDefault();
    const form = els.caseForm;
    const card = ctx.cards.get(id);
    try {
      let caseId = form.elements.existing.value;
      if (!caseId) {
        const made = await ctx.api.post("/api/v1/cases", {
          subject: form.elements.subject.value,
          case_type: form.elements.case_type.value,
          priority: form.elements.priority.value,
          customer_id: card?.customer_id ?? null,
          department_id: form.elements.department_id.value || null,
        });
        caseId = made.id;
      }
      const linked = await ctx.api.post(`/api/v1/cases/${caseId}/interactions`, { interaction_id: id });
      form.hidden = true;
      ctx.toast(ctx.t("desk.case.linked", { number: linked.number }));
      ctx.customer.refresh(card?.customer_id);
    } catch (error) {
      formError(form, error);
    }
  }

  async function showWrapup() {
    const form = els.wrapup;
    if (!form.hidden) return;
    if (wrapupCodes === null) {
      wrapupCodes = await ctx.api.get("/api/v1/desktop/wrap-up-codes").catch(() => []);
    }
    replace(
      form.elements.code_id,
      h("option", { value: "" }, ctx.t("desk.wrapup.no_code")),
      wrapupCodes.filter((c) => c.active).map((c) => h("option", { value: c.id }, `${c.code} · ${c.label}`)),
    );
    form.querySelector("[data-error]").textContent = "";
    form.hidden = false;
  }

  async function submitWrapup(event) {
    event.preventDefault();
    const form = els.wrapup;
    try {
      await ctx.api.post(`/api/v1/desktop/interactions/${id}/wrap-up`, {
        code_id: form.elements.code_id.value || null,
        note: form.elements.note.value,
      });
      form.hidden = true;
      form.reset();
      ctx.toast(ctx.t("desk.wrapup.done"));
      ctx.done(id); // the tab goes; the next conversation, if any, opens
    } catch (error) {
      formError(form, error);
    }
  }

  // -- the composer ---------------------------------------------------------------------

  function focusComposer() {
    (els.text.hidden ? els.rich : els.text).focus();
  }

  function countCharacters() {
    const channel = els.composer.dataset.channel;
    if (channel === "sms" && !els.note.checked) {
      const count = smsSegments(els.text.value);
      setText(els.counter, ctx.t("desk.composer.sms_counter", { units: count.units, per: count.perSegment, segments: count.segments, encoding: count.encoding }));
    } else {
      setText(els.counter, "");
    }
  }

  async function loadCanned() {
    try {
      canned = await ctx.api.get("/api/v1/desktop/canned-responses");
    } catch {
      canned = [];
    }
    renderCanned();
  }

  function renderCanned() {
    const channel = els.composer.dataset.channel;
    const usable = canned.filter((c) => !c.channels.length || c.channels.includes(channel));
    replace(els.cannedList, usable.map((c) => h("option", { value: c.title }, c.shortcut ? `/${c.shortcut}` : "")));
  }

  async function insertCanned() {
    const chosen = canned.find((c) => c.title === els.canned.value || (c.shortcut && `/${c.shortcut}` === els.canned.value));
    if (!chosen) return;
    els.canned.value = "";
    const card = ctx.cards.get(id);
    const customer = card?.customer_id ? await ctx.api.get(`/api/v1/customers/${card.customer_id}`).catch(() => null) : null;
    const text = expandCanned(
      chosen.body,
      cannedVariables({ customer, agent: ctx.me, org: ctx.org, card, today: ctx.i18n.dateTime(ctx.nowUs()).slice(0, 10) }),
    );
    if (!els.text.hidden) {
      const at = els.text.selectionStart ?? els.text.value.length;
      els.text.setRangeText(text, at, els.text.selectionEnd ?? at, "end");
      countCharacters();
    } else {
      els.rich.append(document.createTextNode(text));
    }
    focusComposer();
  }

  function suggestMentions() {
    const found = els.note.checked ? mentionAt(els.text.value, els.text.selectionStart) : null;
    const candidates = found ? mentionCandidates(ctx.directory().users, found.query) : [];
    els.mentions.hidden = candidates.length === 0;
    replace(
      els.mentions,
      candidates.map((c) =>
        h("li", {}, h("button", { type: "button", class: "quiet", onclick: () => insertMention(found, c.name) }, `@${c.name}`)),
      ),
    );
  }

  function insertMention(found, name) {
    els.text.setRangeText(`@${name} `, found.start, els.text.selectionStart, "end");
    els.mentions.hidden = true;
    els.text.focus();
  }

  async function send(event) {
    event.preventDefault();
    if (!id) return;
    els.error.textContent = "";
    const note = els.note.checked;
    const email = !els.emailFields.hidden;
    const text = email ? toPlainText(sanitise(els.rich)) : els.text.value.trim();
    if (!text) return;
    const button = els.composer.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      if (note) {
        const users = ctx.directory().users;
        await ctx.api.post(`/api/v1/desktop/interactions/${id}/notes`, { text, mention_ids: mentionedIds(text, users) });
      } else if (email) {
        const cc = parseAddresses(els.composer.elements.cc.value);
        if (cc.some((a) => !a.valid)) throw new Error(ctx.t("desk.composer.bad_cc"));
        // Files first (on the conversation, not yet on a message); the reply then takes
        // them, its HTML and CC in one transaction, so the mail never leaves without them.
        const attachment_ids = await upload();
        await ctx.api.post(`/api/v1/desktop/interactions/${id}/replies`, {
          text,
          html: markupOf(sanitise(els.rich)),
          cc: cc.map((a) => a.address),
          attachment_ids,
        });
      } else {
        await ctx.api.post(`/api/v1/interactions/${id}/replies`, { text });
      }
      els.text.value = "";
      els.rich.replaceChildren();
      if (email) {
        els.composer.elements.files.value = "";
        els.composer.elements.cc.value = "";
      }
      countCharacters();
    } catch (error) {
      els.error.textContent = [error.message, ...(error.fieldErrors ?? []).map((e) => e.message)].join(" · ");
    } finally {
      button.disabled = false;
    }
  }

  async function upload() {
    const ids = [];
    for (const file of els.composer.elements.files.files) {
      const form = new FormData();
      form.append("file", file);
      ids.push((await ctx.api.post(`/api/v1/interactions/${id}/attachments`, form)).id);
    }
    return ids;
  }

  function markupOf(fragment) {
    const holder = document.createElement("div");
    holder.append(fragment);
    return holder.innerHTML;
  }

  function pasteRich(event) {
    // Pasted markup is rebuilt from the allow-list; plain text stays text.
    event.preventDefault();
    const html = event.clipboardData.getData("text/html");
    const fragment = html ? sanitiseHtml(html) : document.createTextNode(event.clipboardData.getData("text/plain"));
    const selection = window.getSelection();
    if (!selection.rangeCount) return els.rich.append(fragment);
    const range = selection.getRangeAt(0);
    range.deleteContents();
    range.insertNode(fragment);
    range.collapse(false);
  }

  function format(event) {
    const command = event.target.closest("[data-format]")?.dataset.format;
    if (!command) return;
    const value = command === "createLink" ? window.prompt(ctx.t("desk.composer.link_prompt"), "https://") : null;
    if (command === "createLink" && !value) return;
    document.execCommand(command, false, value);
    // Re-sanitise: a typed link may be javascript:, which the allow-list drops.
    els.rich.replaceChildren(sanitise(els.rich));
    els.rich.focus();
  }

  // -- wiring -----------------------------------------------------------------------------

  els.actions.addEventListener("click", (event) => {
    const action = event.target.closest("button[data-action]")?.dataset.action;
    if (action) act(action);
  });
  els.composer.addEventListener("submit", send);
  els.text.addEventListener("input", () => {
    countCharacters();
    suggestMentions();
  });
  els.note.addEventListener("change", () => {
    noteForced = false;
    update();
    focusComposer();
  });
  els.canned.addEventListener("change", insertCanned);
  els.rich.addEventListener("paste", pasteRich);
  els.emailFields.querySelector(".rich-tools").addEventListener("click", format);
  els.transfer.addEventListener("submit", submitTransfer);
  els.caseForm.addEventListener("submit", submitCase);
  els.wrapup.addEventListener("submit", submitWrapup);
  for (const form of [els.transfer, els.caseForm]) {
    form.querySelector("[data-close]").addEventListener("click", () => {
      form.hidden = true;
    });
  }

  return {
    open,
    close,
    update,
    act,
    answer,
    get id() {
      return id;
    },
    /** New messages arrived in the open conversation: fetch only what is new. */
    refreshMessages: () => loadMessages(),
  };
}
