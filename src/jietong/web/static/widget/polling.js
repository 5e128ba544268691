/*
 * The HTTP fallback of the live connection, for networks that block WebSockets: every
 * few seconds, send what waits in the outbox (POST …/messages with the same client ids,
 * so a resend is stored once) and read the timeline after the last number shown
 * (GET …/messages?after=N). Messages go through the connection's own `deliver`, so
 * the rule "each number once, in order" is the same on both paths.
 */

const POLL_MS = 3000;

export class Poller {
  constructor(api, connection) {
    this.api = api;
    this.connection = connection;
    this.timer = null;
    this.busy = false;
  }

  get running() {
    return this.timer !== null;
  }

  start() {
    if (this.running) return;
    this.timer = setInterval(() => this.tick(), POLL_MS);
    this.tick();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  /** Something new to send: do not wait for the next round. */
  soon() {
    setTimeout(() => this.tick(), 0);
  }

  async tick() {
    if (this.busy || !this.running) return;
    this.busy = true;
    try {
      await this.#flush();
      const page = await this.api.messages(this.connection.lastSeq);
      for (const item of page.items) this.connection.deliver({ type: "message", ...item });
      this.connection.onFrame({ type: "status", ...page.status });
    } catch (error) {
      if (error.status === 401) {
        this.stop();
        this.connection.onAuthLost();
      }
      // Other failures: the next round tries again.
    } finally {
      this.busy = false;
    }
  }

  async #flush() {
    for (const item of this.connection.pending()) {
      try {
        await this.api.send(item.client_id, item.text);
        this.connection.acknowledge(item.client_id);
      } catch (error) {
        if (error.status === 422 || error.status === 413) {
          this.connection.acknowledge(item.client_id); // refused for good
          this.connection.onFrame({ type: "error", code: "invalid" });
        } else {
          return; // rate limited or unreachable: keep the rest for the next round
        }
      }
    }
  }
}
