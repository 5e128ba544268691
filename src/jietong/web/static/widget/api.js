/*
 * The widget's HTTP calls to Jietong (config, sessions, files, offline messages,
 * transcripts). Cross-origin from the customer's site: no cookies are sent or needed,
 * the visitor is whoever holds the visitor token, sent in X-Visitor-Token.
 */

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.retryAfter = Number((problem && problem.retry_after) || 0);
  }
}

export class ChatApi {
  constructor(origin, key) {
    this.root = `${origin}/api/v1/channels/chat/${encodeURIComponent(key)}`;
    this.token = null;
  }

  async config(locale) {
    const query = locale ? `?locale=${encodeURIComponent(locale)}` : "";
    return this.#json("GET", `/config${query}`);
  }

  async startSession(body) {
    const session = await this.#json("POST", "/sessions", body);
    this.token = session.visitor_token;
    return session;
  }

  async messages(after) {
    return this.#json("GET", `/messages?after=${after}`);
  }

  async send(clientId, text) {
    return this.#json("POST", "/messages", { client_id: clientId, text });
  }

  async leaveMessage(body) {
    return this.#json("POST", "/offline", body);
  }

  async emailTranscript(body) {
    return this.#json("POST", "/transcript", body);
  }

  async upload(file, clientId) {
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("client_id", clientId);
    return this.#json("POST", "/attachments", form);
  }

  // Files and transcripts need the token header, so they are fetched and handed to
  // the browser as a blob rather than opened as plain links.
  async download(path) {
    const response = await fetch(`${this.root}${path}`, { headers: this.#headers() });
    if (!response.ok) throw new ApiError(response.status, await problemOf(response));
    return response.blob();
  }

  socketUrl() {
    const url = new URL(`${this.root}/ws`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  }

  #headers(extra = {}) {
    const headers = { ...extra };
    if (this.token) headers["X-Visitor-Token"] = this.token;
    return headers;
  }

  async #json(method, path, body) {
    const init = { method, headers: this.#headers(), credentials: "omit" };
    if (body instanceof FormData) {
      init.body = body; // the browser sets the multipart boundary
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(`${this.root}${path}`, init);
    if (!response.ok) {
      const problem = await problemOf(response);
      problem.retry_after = response.headers.get("Retry-After");
      throw new ApiError(response.status, problem);
    }
    return response.json();
  }
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}
