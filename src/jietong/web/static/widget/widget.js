/*
 * The Jietong chat widget: launcher, pre-chat form, conversation, offline form.
 *
 * Life of a visit: the widget reads its configuration (words in the visitor's language,
 * whether agents are online), and a visitor who chatted before (a token in storage) or
 * whom the site vouches for (data-user-id + data-user-hash) is reconnected at once, so
 * agent replies arrive even with the panel closed. A new visitor gets a session when
 * they open the panel: the pre-chat form first if the widget asks for it, or the
 * offline form when nobody can chat now.
 */

import { ApiError, ChatApi } from "./api.js";
import { ChatConnection, newClientId } from "./connection.js";
import { WidgetStore } from "./storage.js";
import { buildPanel, element, format } from "./view.js";

const TYPING_EVERY_MS = 3000; // the server ignores more frequent notices anyway
const TYPING_SHOWN_MS = 5000;

export async function start(options) {
  const widget = new Widget(options);
  await widget.boot();
  return widget;
}

class Widget {
  constructor(options) {
    this.options = options;
    this.api = new ChatApi(options.origin, options.key);
    this.store = new WidgetStore(options.key);
    this.words = {};
    this.config = null;
    this.session = null;
    this.connection = null;
    this.lastTyping = 0;
    this.host = element("div", { id: "jietong-chat", "data-state": "loading" });
    // "open" so that the site's own tests (and ours) can look inside.
    this.root = this.host.attachShadow({ mode: "open" });
    this.ui = buildPanel(this.root, options.base);
    document.body.append(this.host);
  }

  async boot() {
    this.#bindEvents();
    try {
      this.config = await this.api.config(this.options.locale || navigator.language);
    } catch (error) {
      this.#state("refused");
      console.error("jietong-chat: configuration failed", error);
      return;
    }
    this.words = this.config.strings;
    this.#applyWords();
    this.#state("ready");
    if (this.store.load("token", null) || this.options.userId) {
      await this.#startSession({});
    } else if (!this.ui.panel.hidden) {
      // Opened while the configuration was on its way (the panel stayed empty then):
      // show what it holds now.
      this.toggle(true);
    }
  }

  // --- wiring -------------------------------------------------------------------------

  #bindEvents() {
    const ui = this.ui;
    ui.launcher.addEventListener("click", () => this.toggle());
    ui.close.addEventListener("click", () => this.toggle(false));
    ui.composer.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#sendText();
    });
    ui.composer.text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault(); // Enter sends; Shift+Enter and IME composition do not
        this.#sendText();
      }
    });
    ui.composer.text.addEventListener("input", () => this.#typed());
    ui.composer.attach.addEventListener("click", () => ui.composer.file.click());
    ui.composer.file.addEventListener("change", () => this.#sendFile());
    ui.prechat.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submitPrechat(true);
    });
    ui.prechat.skip.addEventListener("click", () => this.#submitPrechat(false));
    ui.offline.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#leaveMessage();
    });
    ui.tools.download.addEventListener("click", () => this.#downloadTranscript());
    ui.tools.email.addEventListener("click", () => this.#emailTranscript());
    ui.followup.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#followUpByEmail();
    });
  }

  #applyWords() {
    const ui = this.ui;
    const w = this.words;
    ui.launcher.textContent = w.open;
    ui.launcher.setAttribute("aria-label", this.config.title || w.title);
    ui.title.textContent = this.config.title || w.title;
    ui.panel.setAttribute("aria-label", this.config.title || w.title);
    ui.close.setAttribute("aria-label", w.close);
    ui.composer.text.setAttribute("placeholder", w.placeholder);
    ui.composer.text.setAttribute("aria-label", w.placeholder);
    ui.composer.send.textContent = w.send;
    ui.composer.attach.setAttribute("aria-label", w.attach);
    ui.composer.attach.setAttribute("title", w.attach);
    const p = ui.prechat;
    p.intro.textContent = this.config.pre_chat === "required" ? w["prechat.required"] : w["prechat.title"];
    setLabel(p.name, w["prechat.name"]);
    setLabel(p.email, w["prechat.email"]);
    setLabel(p.phone, w["prechat.phone"]);
    p.start.textContent = w["prechat.start"];
    p.skip.textContent = w["prechat.skip"];
    const required = this.config.pre_chat === "required";
    p.skip.hidden = required;
    // Required: a name and an email (the server refuses messages without them).
    p.name.input.required = required;
    p.email.input.required = required;
    const o = ui.offline;
    o.title.textContent = w["offline.title"];
    o.intro.textContent = w[`offline.${this.config.offline_reason || "no_agents"}`];
    setLabel(o.name, w["prechat.name"]);
    setLabel(o.email, w["prechat.email"]);
    o.textLabel.querySelector(".label").textContent = w["offline.message"];
    o.send.textContent = w["offline.send"];
    ui.tools.download.textContent = w["transcript.download"];
    ui.tools.email.textContent = w["transcript.email"];
    ui.tools.address.setAttribute("placeholder", w["prechat.email"]);
    ui.followup.email.setAttribute("placeholder", w["prechat.email"]);
    ui.followup.email.setAttribute("aria-label", w["prechat.email"]);
    ui.followup.send.textContent = w["followup.send"];
  }

  toggle(open = this.ui.panel.hidden) {
    this.ui.panel.hidden = !open;
    this.ui.launcher.setAttribute("aria-expanded", String(open));
    if (!open || !this.config) return;
    if (this.session) {
      this.#showConversation();
    } else if (!this.config.online) {
      this.#show("offline");
    } else if (this.config.pre_chat === "off") {
      this.#startSession({});
    } else {
      this.#show("prechat");
    }
  }

  // --- sessions -------------------------------------------------------------------------

  async #startSession(answers) {
    const o = this.options;
    const body = { locale: this.config.locale, ...answers };
    const token = this.store.load("token", null);
    if (o.userId) Object.assign(body, { user_id: o.userId, user_hash: o.userHash });
    else if (token) body.visitor_token = token;
    if (o.name && !body.name) body.name = o.name;
    if (o.email && !body.email) body.email = o.email;
    try {
      this.session = await this.api.startSession(body);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && token) {
        this.store.remove("token"); // expired or unknown: start afresh once
        return this.#startSession(answers);
      }
      this.#notice(this.#errorText(error));
      return;
    }
    this.store.save("token", this.session.visitor_token);
    this.#connect();
    if (!this.ui.panel.hidden) this.#showConversation();
  }

  #connect() {
    if (this.connection) this.connection.stop();
    this.connection = new ChatConnection({
      url: this.api.socketUrl(),
      api: this.api,
      store: this.store,
      onMessage: (frame) => this.#renderMessage(frame),
      onFrame: (frame) => this.#frame(frame),
      onState: (state) => this.#connectionState(state),
      onAuthLost: () => {
        this.store.remove("token");
        this.session = null;
        this.#startSession({});
      },
    });
    for (const item of this.connection.pending()) this.#renderPending(item.client_id, item.text);
    this.connection.start(this.session.visitor_token);
  }

  async #submitPrechat(withAnswers) {
    const p = this.ui.prechat;
    const answers = {};
    if (withAnswers) {
      for (const [key, field] of [["name", p.name], ["email", p.email], ["phone", p.phone]]) {
        if (field.input.value.trim()) answers[key] = field.input.value.trim();
      }
    }
    await this.#startSession(answers);
  }

  // --- conversation ---------------------------------------------------------------------

  #showConversation() {
    this.#show("conversation");
    this.ui.composer.text.focus();
  }

  #show(view) {
    const ui = this.ui;
    ui.prechat.form.hidden = view !== "prechat";
    ui.offline.form.hidden = view !== "offline";
    ui.composer.form.hidden = view !== "conversation";
    ui.tools.bar.hidden = view !== "conversation";
    ui.messages.hidden = view === "prechat" || view === "offline";
  }

  #sendText() {
    const text = this.ui.composer.text.value.trim();
    if (!text || !this.connection) return;
    const clientId = this.connection.send(text);
    this.#renderPending(clientId, text);
    this.ui.composer.text.value = "";
  }

  #typed() {
    const now = Date.now();
    if (this.connection && now - this.lastTyping > TYPING_EVERY_MS) {
      this.lastTyping = now;
      this.connection.typing();
    }
  }

  async #sendFile() {
    const file = this.ui.composer.file.files[0];
    this.ui.composer.file.value = "";
    if (!file || !this.session) return;
    if (file.size > this.config.max_attachment_bytes) {
      this.#notice(this.words["error.too_large"]);
      return;
    }
    const clientId = newClientId();
    this.#renderPending(clientId, file.name);
    try {
      await this.api.upload(file, clientId); // the message itself arrives on the socket
    } catch (error) {
      this.root.querySelector(`[data-client-id="${clientId}"]`)?.remove();
      this.#notice(this.#errorText(error));
    }
  }

  #renderPending(clientId, text) {
    if (this.root.querySelector(`[data-client-id="${clientId}"]`)) return;
    const item = element("li", { class: "message visitor pending", "data-client-id": clientId }, [
      element("p", { class: "text", text }),
      element("span", { class: "meta", text: this.words.pending }),
    ]);
    this.ui.messages.append(item);
    this.#scroll();
  }

  #renderMessage(frame) {
    if (frame.client_id) {
      this.root.querySelector(`.pending[data-client-id="${frame.client_id}"]`)?.remove();
    }
    const who =
      frame.author === "visitor"
        ? this.words.you
        : frame.author === "agent"
          ? frame.agent_name || this.words.agent
          : this.words.system;
    const time = new Date(frame.at).toLocaleTimeString(this.config.locale, {
      hour: "2-digit",
      minute: "2-digit",
    });
    const item = element("li", { class: `message ${frame.author}`, "data-seq": String(frame.seq) }, [
      element("span", { class: "author", text: who }),
    ]);
    if (frame.text) item.append(element("p", { class: "text", text: frame.text }));
    for (const file of frame.attachments || []) item.append(this.#fileButton(file));
    item.append(element("span", { class: "meta", text: time }));
    this.ui.messages.append(item);
    if (frame.author === "agent") this.ui.typing.hidden = true;
    this.#scroll();
  }

  #fileButton(file) {
    const button = element("button", { type: "button", class: "file-link", text: file.filename });
    button.addEventListener("click", () =>
      this.#saveBlob(`/attachments/${encodeURIComponent(file.id)}`, file.filename),
    );
    return button;
  }

  #frame(frame) {
    if (frame.type === "status") this.#renderStatus(frame);
    else if (frame.type === "typing") this.#renderTyping(frame.name);
    else if (frame.type === "error") this.#notice(this.#frameError(frame));
  }

  #renderStatus(status) {
    const w = this.words;
    const parts = [];
    const deferred = status.state === "waiting" && status.deferred;
    this.ui.followup.form.hidden = !deferred || Boolean(this.session?.email);
    if (deferred) {
      parts.push(w.deferred);
    } else if (status.state === "waiting") {
      parts.push(w.waiting);
      if (status.position) parts.push(format(w.position, { position: status.position }));
      if (status.ewt_seconds !== null && status.ewt_seconds !== undefined) {
        const minutes = Math.max(1, Math.ceil(status.ewt_seconds / 60));
        parts.push(status.ewt_seconds < 30 ? w.wait_soon : format(w.wait_estimate, { minutes }));
      }
    } else if (status.state === "connected") {
      parts.push(format(w.connected, { name: status.agent_name || w.agent }));
    } else if (status.state === "ended") {
      parts.push(w.ended);
    }
    // Chinese sentences follow each other without a space; English ones with one.
    this.ui.status.textContent = parts.join(this.config.locale.startsWith("zh") ? "" : " ");
    this.ui.status.dataset.state = status.state;
  }

  #renderTyping(name) {
    this.ui.typing.textContent = format(this.words.typing, { name: name || this.words.agent });
    this.ui.typing.hidden = false;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => (this.ui.typing.hidden = true), TYPING_SHOWN_MS);
  }

  #connectionState(state) {
    this.#state(state);
    if (state === "reconnecting") this.#notice(this.words.reconnecting, "info");
    else if (state === "online" || state === "polling") this.ui.notice.hidden = true;
    else if (state === "refused") this.#notice(this.words["error.refused"]);
  }

  // --- offline messages and transcripts ---------------------------------------------------

  async #leaveMessage() {
    const o = this.ui.offline;
    try {
      if (!this.session) {
        this.session = await this.api.startSession({ locale: this.config.locale });
        this.store.save("token", this.session.visitor_token);
      }
      const result = await this.api.leaveMessage({
        client_id: newClientId(),
        name: o.name.input.value.trim() || null,
        email: o.email.input.value.trim(),
        text: o.text.value.trim(),
      });
      o.thanks.textContent = format(this.words["offline.thanks"], { number: result.case_number });
      o.thanks.hidden = false;
      o.send.disabled = true;
    } catch (error) {
      this.#notice(this.#errorText(error));
    }
  }

  async #followUpByEmail() {
    const email = this.ui.followup.email.value.trim();
    if (!email) return;
    try {
      // Resuming the session with an email records it (and gives it to the customer).
      const o = this.options;
      const who = o.userId
        ? { user_id: o.userId, user_hash: o.userHash } // the site vouches again
        : { visitor_token: this.session.visitor_token };
      this.session = await this.api.startSession({ ...who, email, locale: this.config.locale });
      this.store.save("token", this.session.visitor_token);
      this.ui.followup.form.hidden = true;
      this.#notice(format(this.words["followup.saved"], { email }), "info");
    } catch (error) {
      this.#notice(this.#errorText(error));
    }
  }

  async #emailTranscript() {
    const address = this.ui.tools.address;
    const email = address.value.trim() || this.session?.email || this.options.email;
    if (!email) {
      address.hidden = false; // ask for it, then the visitor presses the button again
      address.focus();
      return;
    }
    try {
      const result = await this.api.emailTranscript({ email, locale: this.config.locale });
      if (result.emailed) this.#notice(format(this.words["transcript.sent"], { email }), "info");
      else await this.#downloadTranscript();
    } catch (error) {
      this.#notice(this.#errorText(error));
    }
  }

  async #downloadTranscript() {
    await this.#saveBlob(`/transcript?locale=${this.config.locale}`, "transcript.txt");
  }

  async #saveBlob(path, filename) {
    try {
      const blob = await this.api.download(path);
      const url = URL.createObjectURL(blob);
      const link = element("a", { href: url, download: filename });
      this.root.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      this.#notice(this.#errorText(error));
    }
  }

  // --- small things -----------------------------------------------------------------------

  #notice(text, kind = "error") {
    this.ui.notice.textContent = text;
    this.ui.notice.dataset.kind = kind;
    this.ui.notice.hidden = !text;
  }

  #errorText(error) {
    if (error instanceof ApiError) {
      if (error.status === 429) {
        return format(this.words["error.rate_limited"], { seconds: error.retryAfter || 60 });
      }
      if (error.status === 413) return this.words["error.too_large"];
      if (error.status === 403 || error.status === 404) return this.words["error.refused"];
    }
    return this.words["error.invalid"];
  }

  #frameError(frame) {
    if (frame.code === "rate_limited") {
      return format(this.words["error.rate_limited"], { seconds: frame.retry_after || 60 });
    }
    if (frame.code === "too_large") return this.words["error.too_large"];
    return this.words["error.invalid"];
  }

  #state(state) {
    this.host.dataset.state = state;
  }

  #scroll() {
    this.ui.messages.scrollTop = this.ui.messages.scrollHeight;
  }
}

function setLabel(field, text) {
  field.label.querySelector(".label").textContent = text;
}
