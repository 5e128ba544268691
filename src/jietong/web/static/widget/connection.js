/*
 * The live connection: one WebSocket, reconnected with backoff, resumed without loss
 * or duplicates.
 *
 * - Resume: every message carries the server's number in the visitor's timeline (seq).
 *   The client remembers the highest seq it handed on and says `after: lastSeq` in its
 *   hello, so the server sends exactly what was missed. A frame with a seq already seen
 *   is dropped here, whatever the reason it came twice.
 * - Sending: each message gets a client id before it leaves, and waits in an outbox
 *   (kept in localStorage, so a reload does not lose it) until the server acknowledges
 *   it ("sent"). After a reconnect the outbox is sent again with the same ids; the
 *   server stores a repeated id once, so a message whose acknowledgement was lost is
 *   not duplicated.
 */

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const PING_MS = 25000; // keeps proxies from closing an idle socket

export class ChatConnection {
  constructor({ url, store, onMessage, onFrame, onState, onAuthLost }) {
    this.url = url;
    this.store = store;
    this.onMessage = onMessage;
    this.onFrame = onFrame;
    this.onState = onState;
    this.onAuthLost = onAuthLost;
    this.token = null;
    this.lastSeq = 0;
    this.socket = null;
    this.attempt = 0;
    this.stopped = false;
    this.ready = false;
    this.outbox = store.load("outbox", []);
  }

  start(token) {
    this.token = token;
    this.stopped = false;
    this.#open();
  }

  stop() {
    this.stopped = true;
    if (this.socket) this.socket.close(1000);
  }

  /** Queue a message; returns its client id (the widget shows it as pending). */
  send(text) {
    const item = { client_id: newClientId(), text };
    this.outbox.push(item);
    this.#saveOutbox();
    if (this.ready) this.#frame({ type: "message", ...item });
    return item.client_id;
  }

  typing() {
    if (this.ready) this.#frame({ type: "typing" });
  }

  pending() {
    return [...this.outbox];
  }

  #open() {
    this.onState(this.attempt === 0 ? "connecting" : "reconnecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      // The token goes in the first frame, not the URL: URLs end up in logs.
      socket.send(JSON.stringify({ type: "hello", token: this.token, after: this.lastSeq }));
    });
    socket.addEventListener("message", (event) => this.#received(event.data));
    socket.addEventListener("close", (event) => this.#closed(socket, event.code));
  }

  #received(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === "welcome") {
      this.ready = true;
      this.attempt = 0;
      this.onState("online");
      this.#startPing();
      for (const item of this.outbox) this.#frame({ type: "message", ...item });
    } else if (frame.type === "message") {
      if (frame.seq <= this.lastSeq) return; // seen already: never show twice
      this.lastSeq = frame.seq;
      this.#acknowledged(frame.client_id);
      this.onMessage(frame);
    } else if (frame.type === "sent") {
      this.#acknowledged(frame.client_id);
    } else if (frame.type === "error" && frame.client_id) {
      this.#refused(frame);
    } else {
      this.onFrame(frame);
    }
  }

  #acknowledged(clientId) {
    if (!clientId) return;
    const before = this.outbox.length;
    this.outbox = this.outbox.filter((item) => item.client_id !== clientId);
    if (this.outbox.length !== before) this.#saveOutbox();
  }

  #refused(frame) {
    if (frame.code === "rate_limited") {
      // Keep it queued and try again when the server says we may.
      const wait = Math.max(1, Number(frame.retry_after) || 5) * 1000;
      setTimeout(() => {
        const item = this.outbox.find((m) => m.client_id === frame.client_id);
        if (item && this.ready) this.#frame({ type: "message", ...item });
      }, wait);
    } else {
      this.#acknowledged(frame.client_id); // refused for good: do not resend forever
    }
    this.onFrame(frame);
  }

  #closed(socket, code) {
    if (socket !== this.socket) return;
    this.ready = false;
    clearInterval(this.pingTimer);
    if (this.stopped) return;
    if (code === 4401) {
      this.onAuthLost(); // the token is no longer valid: the widget starts a new session
      return;
    }
    if (code === 4403 || code === 4404) {
      this.onState("refused");
      return;
    }
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.onState("reconnecting");
    // Jitter spreads the reconnects of many visitors after a server restart.
    setTimeout(() => this.#open(), delay * (0.75 + Math.random() / 2));
  }

  #startPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.#frame({ type: "ping" }), PING_MS);
  }

  #frame(value) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(value));
    }
  }

  #saveOutbox() {
    this.store.save("outbox", this.outbox);
  }
}

/** 128 random bits as hex: unique enough to be the message's idempotency key. */
export function newClientId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes); // available on plain http pages too, unlike randomUUID
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
