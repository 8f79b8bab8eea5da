// A party's session on this device: exchanging an invite code (or a
// visitor's return link) for a token, and keeping it in sessionStorage or,
// if the party opted in, in localStorage until the room's retention ends.
// Every way in that is gone becomes a `deadEnd(kind)` error, which the page
// turns into a page that says what to do, never a raw error.

import { api, RelayError } from './api.js';
import { t } from './i18n.js';

const STORAGE_KEY = 'caucus.party';

// A session is `{token, room_id, party_id, code, expires_at}`. It lives in
// sessionStorage (this tab, as long as it is open) and, when the party chose
// "Keep me signed in on this device", also in localStorage, until the
// room's retention ends (the token's `exp`).

/** A kept session was found past its room's retention end (and forgotten). */
let outlived = false;

function readSession(storage) {
  try {
    const s = JSON.parse(storage.getItem(STORAGE_KEY) || 'null');
    if (!s || !s.token) return null;
    if (s.expires_at && s.expires_at <= Date.now()) {
      storage.removeItem(STORAGE_KEY);
      outlived = true;
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

/** A session kept on this device (localStorage), if any. */
export function keptSession() {
  return readSession(localStorage);
}

function loadStored() {
  return readSession(sessionStorage) || keptSession();
}

export function saveSession(session, keep) {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  if (keep) localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else localStorage.removeItem(STORAGE_KEY);
}

export function forgetSession() {
  sessionStorage.removeItem(STORAGE_KEY);
  localStorage.removeItem(STORAGE_KEY);
}

/** When the token stops working anyway: its `exp`, the room's retention end. */
function tokenExpiry(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const exp = JSON.parse(atob(payload)).exp;
    return typeof exp === 'number' ? exp * 1000 : null;
  } catch {
    return null;
  }
}

export async function obtainSession() {
  const code = decodeURIComponent(location.hash.replace(/^#/, '')).trim();
  const stored = loadStored();
  if (!code) {
    if (stored) return stored;
    throw deadEnd(outlived ? 'retention' : 'no_link');
  }
  if (stored && stored.code === code) return forgetCode(stored);
  if (code.startsWith('return.')) return forgetCode(returnSession(code));
  try {
    const res = await api('POST', '/api/join', { body: { invite_code: code } });
    const session = { token: res.token, room_id: res.room_id, party_id: res.party_id, code, expires_at: tokenExpiry(res.token) };
    // A new link on a device where the party chose to stay signed in keeps that choice.
    saveSession(session, Boolean(keptSession()));
    return forgetCode(session);
  } catch (err) {
    if (err.code === 'gone' && stored) return forgetCode(stored);
    if (err.code === 'gone') throw deadEnd('used');
    if (err.code === 'replaced') throw deadEnd('replaced');
    if (err.code === 'not_found' || err.code === 'unauthorized' || err.code === 'invalid') throw deadEnd('invalid');
    throw err;
  }
}

/**
 * A visitor's return link (`/join#return.<token>`, from the contact page)
 * carries its party token itself, so it works on every visit until the
 * conversation ends or the office blocks it.
 */
function returnSession(code) {
  const token = code.slice('return.'.length);
  let claims = {};
  try {
    claims = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    throw deadEnd('invalid');
  }
  const session = { token, room_id: claims.room, party_id: claims.sub, code, expires_at: tokenExpiry(token) };
  saveSession(session, Boolean(keptSession()));
  return session;
}

/**
 * An error that ends on the page for `kind`, one of `no_link`, `used`,
 * `replaced`, `invalid`, `expired`, `retention`, `signed_out`, `left`,
 * `closed` (`party.deadEnd.<kind>` in the locale files): every way in that
 * is gone ends on one of these, never on a raw error.
 */
export function deadEnd(kind) {
  const err = new RelayError(kind, t(`party.deadEnd.${kind}.text`));
  err.deadEnd = kind;
  return err;
}

/** The code is spent once exchanged: take it out of the address bar. */
function forgetCode(session) {
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  return session;
}
