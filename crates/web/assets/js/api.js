// Chirp's public API from the page: JSON in and out, the access token in Authorization,
// one retry after a refresh when a token turns out to have expired, and every failure as
// an ApiError whose message a person can read.

import { accessToken, jsonOf, refresh } from "./session.js";

export class ApiError extends Error {
  constructor(status, detail, problem) {
    super(detail);
    this.status = status;
    this.problem = problem;
  }
}

function message(status, problem) {
  if (status === 0) return "Chirp cannot be reached. Check your connection and try again.";
  if (status === 503) {
    const what = problem?.detail ? ` (${problem.detail})` : "";
    return `Part of Chirp is not answering at the moment${what}. Try again in a little while.`;
  }
  if (status === 429) return "Too many requests: wait a moment and try again.";
  if (problem?.detail) return problem.detail;
  return `Something went wrong (the server answered ${status}).`;
}

/** `api("GET", "/users/1")`: the answer's JSON (null for 204). */
export async function api(method, path, body, { headers = {}, retried = false } = {}) {
  const token = await accessToken();
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, message(0));
  }
  if (res.status === 401 && token && !retried && (await refresh())) {
    return api(method, path, body, { headers, retried: true });
  }
  const data = await jsonOf(res);
  if (!res.ok) throw new ApiError(res.status, message(res.status, data), data);
  return data;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
