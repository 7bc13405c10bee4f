// The API client: the key lives in sessionStorage (this tab only) and goes out as a bearer
// token. No cookies are used, so no other site can make the browser act for the user.
const KEY = "kscribe.key";

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = 0) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter; // seconds, from a 429's or 503's Retry-After
  }
}

// Waits out a 429 (the key's requests per minute): a page that follows a job keeps following.
export async function politely(request) {
  for (;;) {
    try {
      return await request();
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 429) throw error;
      await new Promise((r) => setTimeout(r, 1000 * Math.min(Math.max(error.retryAfter || 5, 1), 60)));
    }
  }
}

export const key = {
  get: () => sessionStorage.getItem(KEY) || "",
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export function explain(error) {
  if (!(error instanceof ApiError)) return `The service could not be reached (${error.message}).`;
  if (error.status === 401) return "That API key was not accepted. Check it was copied whole, and that it has not been revoked.";
  if (error.status === 429) return `Too many requests: ${error.message}`;
  return error.message;
}

export async function call(method, path, { body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { Authorization: `Bearer ${key.get()}`, ...headers }, cache: "no-store" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "network", `the service could not be reached (${e.message})`);
  }
  if (!response.ok) {
    let code = "error", message = `${response.status} ${response.statusText}`;
    try {
      const payload = await response.json();
      code = payload.error.code;
      message = payload.error.message;
    } catch { /* not JSON */ }
    throw new ApiError(response.status, code, message, Number(response.headers.get("Retry-After")) || 0);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}
