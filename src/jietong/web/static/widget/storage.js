/*
 * What the widget keeps between page loads, in the host page's localStorage, under
 * keys namespaced by widget key: the visitor token and the outbox of unsent messages.
 * Storage can be unavailable (private modes, blocked third-party storage); the widget
 * then still works for the life of the page.
 */

export class WidgetStore {
  constructor(key) {
    this.prefix = `jietong-chat:${key}:`;
    this.memory = new Map();
  }

  load(name, fallback) {
    try {
      const raw = window.localStorage.getItem(this.prefix + name);
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return this.memory.has(name) ? this.memory.get(name) : fallback;
    }
  }

  save(name, value) {
    this.memory.set(name, value);
    try {
      window.localStorage.setItem(this.prefix + name, JSON.stringify(value));
    } catch {
      // kept in memory only
    }
  }

  remove(name) {
    this.memory.delete(name);
    try {
      window.localStorage.removeItem(this.prefix + name);
    } catch {
      // nothing stored
    }
  }
}
