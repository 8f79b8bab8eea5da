// The relay's HTTP API (`/api/...`) and polite wording for its error codes.

/** An error answer, from the REST API (`{code, message}`) or an `error` frame. */
export class RelayError extends Error {
  constructor(code, message, status = 0) {
    super(message || code);
    this.code = code;
    this.status = status;
  }
}

const FRIENDLY = {
  unauthorized: 'Your session has expired or the credentials were not accepted. Please sign in again.',
  forbidden: 'That is not something you can do here.',
  not_found: 'That could not be found. It may have been removed.',
  invalid: 'Something in the request was not right.',
  too_large: 'That is too long to send. Please shorten it.',
  rate_limited: 'That was a lot at once. Please wait a moment and try again.',
  conflict: 'Things changed in the meantime. Please look again and retry.',
  room_closed: 'This conversation has been closed.',
  gone: 'This invitation link has already been used.',
  replaced: 'This link has been replaced by a newer one. Ask your ombud for the new link.',
  notice_required: 'Please read the notice and choose “I understand” first.',
  unavailable: 'The service is briefly unavailable. Please try again in a moment.',
  challenge_failed: 'The page could not prove it is a person in time. Please try again.',
  intake_closed: 'The office is not taking new conversations here at the moment.',
  internal: 'Something went wrong on our side. Please try again.',
  network: 'The server could not be reached. Please check your connection and try again.',
  disconnected: 'The connection dropped before the server answered. Please check the conversation, then try again if needed.',
  timeout: 'The server took too long to answer. Please try again.',
};

/** A sentence for a person, from an error (a RelayError or anything else). */
export function describeError(err) {
  if (err instanceof RelayError) {
    const friendly = FRIENDLY[err.code];
    if (!friendly) return err.message || 'Something went wrong.';
    // `invalid` and `conflict` messages say what was wrong; the relay never
    // quotes content the requester could not see, so they are safe to show.
    if ((err.code === 'invalid' || err.code === 'conflict') && err.message && err.message !== err.code) {
      return `${friendly} (${err.message})`;
    }
    return friendly;
  }
  return FRIENDLY.internal;
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
    throw new RelayError('network', FRIENDLY.network);
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
