// The relay's HTTP API (`/api/...`) and polite wording for its error codes.

import { t } from './i18n.js';

/** An error answer, from the REST API (`{code, message}`) or an `error` frame. */
export class RelayError extends Error {
  constructor(code, message, status = 0) {
    super(message || code);
    this.code = code;
    this.status = status;
  }
}

/** Error codes with a sentence of their own (`errors.<code>` in the locale files). */
const FRIENDLY = new Set([
  'unauthorized', 'forbidden', 'not_found', 'invalid', 'too_large', 'rate_limited', 'conflict', 'room_closed',
  'gone', 'replaced', 'notice_required', 'unavailable', 'challenge_failed', 'intake_closed', 'internal', 'network', 'disconnected', 'timeout',
]);

/**
 * The sentence for `err` as `[key, params]` for `t` or `setText`, so it can
 * follow a language change. `invalid` and `conflict` messages say what was
 * wrong; the relay never quotes content the requester could not see, so
 * they are safe to show.
 */
export function errorMessage(err) {
  if (!(err instanceof RelayError)) return ['errors.internal'];
  if (!FRIENDLY.has(err.code)) return err.message ? ['errors.relay', { message: err.message }] : ['errors.unknown'];
  if ((err.code === 'invalid' || err.code === 'conflict') && err.message && err.message !== err.code) {
    return [`errors.${err.code}_detail`, { detail: err.message }];
  }
  return [`errors.${err.code}`];
}

/** A sentence for a person, from an error (a RelayError or anything else). */
export function describeError(err) {
  return t(...errorMessage(err));
}

/**
 * Call the API. Resolves with the parsed JSON body (or null for 204), or
 * with the Response itself when `raw` is set; rejects with a RelayError.
 */
export async function api(method, path, { token, body, raw = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new RelayError('network', t('errors.network'));
  }
  if (!res.ok) {
    let code = statusCode(res.status);
    let message = '';
    try {
      const err = await res.json();
      if (err && typeof err.code === 'string') code = err.code;
      if (err && typeof err.message === 'string') message = err.message;
    } catch {
      // Not JSON: keep the code derived from the status.
    }
    throw new RelayError(code, message, res.status);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

function statusCode(status) {
  switch (status) {
    case 400:
    case 422:
      return 'invalid';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 410:
      return 'gone';
    case 413:
      return 'too_large';
    case 429:
      return 'rate_limited';
    case 503:
      return 'unavailable';
    default:
      return 'internal';
  }
}
