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
 * - Fallback: some networks (proxies, old firewalls) never let a WebSocket through.
 *   After a few attempts that never reached "welcome", the same outbox and the same
 *   numbers are driven over plain HTTP (polling.js) while the socket is retried now
 *   and then; whichever path delivers a number first wins, the other drops it.
 */

import { Poller } from "./polling.js";

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const PING_MS = 25000; // keeps proxies from closing an idle socket
const FALLBACK_AFTER = 3; // failed socket attempts in a row before polling
const SOCKET_RETRY_WHILE_POLLING_MS = 60000;

export class ChatConnection {
  constructor({ url, api, store, onMessage, onFrame, onState, onAuthLost }) {
    this.url = url;
    this.poller = new Poller(api, this);
    this.failures = 0; // socket attempts in a row that never got a welcome
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
    this.poller.stop();
    if (this.socket) this.socket.close(1000);
  }

  /** Queue a message; returns its client id (the widget shows it as pending). */
  send(text) {
    const item = { client_id: newClientId(), text };
    this.outbox.push(item);
    this.#saveOutbox();
    if (this.ready) this.#frame({ type: "message", ...item });
    else if (this.poller.running) this.poller.soon();
    return item.client_id;
  }

  /** A numbered message from either path: shown once, in order of arrival. */
  deliver(frame) {
    if (frame.seq <= this.lastSeq) return; // seen already: never show twice
    this.lastSeq = frame.seq;
    this.acknowledge(frame.client_id);
    this.onMessage(frame);
  }

  acknowledge(clientId) {
    if (!clientId) return;
    const before = this.outbox.length;
    this.outbox = this.outbox.filter((item) => item.client_id !== clientId);
    if (this.outbox.length !== before) this.#saveOutbox();
  }

  typing() {
    if (this.ready) this.#frame({ type: "typing" });
  }

  pending() {
    return [...this.outbox];
  }

  #open() {
    if (!this.poller.running) this.onState(this.attempt === 0 ? "connecting" : "reconnecting");
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
      this.failures = 0;
      this.poller.stop(); // the socket is back: it takes over from here
      this.onState("online");
      this.#startPing();
      for (const item of this.outbox) this.#frame({ type: "message", ...item });
    } else if (frame.type === "message") {
      this.deliver(frame);
    } else if (frame.type === "sent") {
      this.acknowledge(frame.client_id);
    } else if (frame.type === "error" && frame.client_id) {
      this.#refused(frame);
    } else {
      this.onFrame(frame);
    }
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
      this.acknowledge(frame.client_id); // refused for good: do not resend forever
    }
    this.onFrame(frame);
  }

  #closed(socket, code) {
    if (socket !== this.socket) return;
    if (!this.ready) this.failures += 1;
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
    if (this.failures >= FALLBACK_AFTER) {
      if (!this.poller.running) {
        this.poller.start();
        this.onState("polling");
      }
      setTimeout(() => this.#open(), SOCKET_RETRY_WHILE_POLLING_MS);
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
