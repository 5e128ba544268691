// JSON over HTTP for the screens: same-origin cookies, the CSRF token on writes, and
// problem JSON (RFC 9457) turned into an ApiError with the server's own words.

export class ApiError extends Error {
  /** @param {number} status @param {object} problem the problem JSON (detail, errors) */
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem ?? {};
  }

  /** Field messages: [{field, message}] from `errors` (validation) if any. */
  get fieldErrors() {
    const errors = Array.isArray(this.problem.errors) ? this.problem.errors : [];
    return errors.map((e) => ({
      field: Array.isArray(e.loc) ? e.loc.filter((p) => p !== "body").join(".") : String(e.field ?? ""),
      message: e.msg ?? e.message ?? String(e),
    }));
  }
}

// `locale` (the page's) goes out as Accept-Language so that problems come back in the
// language the screen speaks.
export function createApi(csrfToken, { locale, fetchImpl = globalThis.fetch.bind(globalThis) } = {}) {
  async function request(method, path, body) {
    const headers = { Accept: "application/json" };
    if (locale) headers["Accept-Language"] = locale;
    const init = { method, headers, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken;
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetchImpl(path, init);
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) throw new ApiError(response.status, typeof data === "object" ? data : { detail: data });
    return data;
  }
  return {
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body ?? {}),
    put: (path, body) => request("PUT", path, body),
    patch: (path, body) => request("PATCH", path, body),
    del: (path) => request("DELETE", path),
  };
}
