// Keeps a screen's state live: snapshot, then the event stream after it, through network
// drops. Everything it touches is passed in (snapshot loader, socket factory, timers), so
// node tests drive it with fakes.
//
// - The stream opens with after=state.as_of: the snapshot's position, later the seq of the
//   last event applied. The reducer ignores any seq at or below it, so a replayed seam or a
//   reconnect never applies an event twice, and the server replays what was missed.
// - After a drop it reconnects with backoff (1 s doubling to 15 s, reset once live).
// - {"type": "resnapshot"} (too far behind) or a stale state reloads the snapshot.

import { apply } from "./state.js";

export const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000];

export class Live {
  /**
   * @param {{loadSnapshot: () => Promise<object>, openSocket: (after:number) => object,
   *          setTimer?: Function, clearTimer?: Function, onChange?: Function,
   *          onEvent?: Function, onStatus?: Function}} deps
   */
  constructor(deps) {
    // Wrapped: called as deps.setTimer(), a bare setTimeout would get the wrong `this`
    // and browsers throw "Illegal invocation".
    const timers = { setTimer: (fn, ms) => setTimeout(fn, ms), clearTimer: (id) => clearTimeout(id) };
    this.deps = { ...timers, ...deps };
    this.snapshot = null; // the last snapshot (directory, time zone…)
    this.state = null;
    this.status = "connecting"; // connecting | live | offline
    this.applied = 0; // events applied since start (the bench and tests read it)
    this.socket = null;
    this.generation = 0; // messages of an abandoned socket are ignored
    this.attempt = 0;
    this.timer = null;
    this.reloading = null;
  }

  async start() {
    await this.reload();
  }

  /** Load a fresh snapshot and reconnect after it. */
  reload() {
    if (this.reloading) return this.reloading;
    this.reloading = (async () => {
      this.closeSocket();
      try {
        this.snapshot = await this.deps.loadSnapshot();
        this.state = this.snapshot.state;
        this.changed();
        this.connect();
      } catch (error) {
        this.setStatus("offline");
        this.retry(() => this.reload());
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  connect() {
    const generation = ++this.generation;
    const socket = this.deps.openSocket(this.state.as_of);
    this.socket = socket;
    this.setStatus("connecting");
    socket.onmessage = (message) => {
      if (generation === this.generation) this.receive(JSON.parse(message.data));
    };
    socket.onclose = () => {
      if (generation !== this.generation) return;
      this.socket = null;
      this.setStatus("offline");
      this.retry(() => this.connect());
    };
  }

  receive(message) {
    if (message.type === "hello") {
      this.attempt = 0;
      this.setStatus("live");
    } else if (message.type === "event") {
      const before = this.state;
      this.state = apply(this.state, message);
      if (this.state === before) return; // at or below as_of: seen already
      this.applied += 1;
      this.deps.onEvent?.(message, this.state);
      if (this.state.stale) this.reload();
      else this.changed();
    } else if (message.type === "resnapshot") {
      this.reload();
    }
  }

  retry(action) {
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.deps.clearTimer(this.timer);
    this.timer = this.deps.setTimer(() => {
      this.timer = null;
      action();
    }, delay);
  }

  /** Close the socket as a network drop would (tests, and before a reload). */
  drop() {
    this.socket?.close();
  }

  closeSocket() {
    this.generation += 1;
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close();
  }

  stop() {
    this.deps.clearTimer(this.timer);
    this.closeSocket();
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.deps.onStatus?.(status);
  }

  changed() {
    this.deps.onChange?.(this.state, this.snapshot);
  }
}

/** The browser's socket factory: same origin, ws or wss as the page. */
export function browserSocket(after) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return new WebSocket(`${scheme}://${location.host}/api/v1/stream?after=${after}`);
}
