// The ombud's session: the token (kept in sessionStorage, so a reload stays
// signed in), signing in and out, and `call`, the API call that carries it.
// Signing in with the institution leaves for the relay's /api/oidc/start and
// comes back to `#/signin/done` (then a one-time cookie is traded for the
// token by POST) or `#/signin/error/<code>`; either fragment is removed from
// the address at once.

import { api, describeError } from '../api.js';
import { $, show } from '../dom.js';
import { route, banner } from './routing.js';
import { closeRoom } from './room-view.js';
import { clearAttention } from './attention.js';

const AUTH_KEY = 'caucus.ombud';

/** Restore this tab's sign-in into `app.auth`, if one was saved. */
export function loadAuth(app) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(AUTH_KEY) || 'null');
    if (saved && saved.token) Object.assign(app.auth, saved);
  } catch {
    // Nothing usable saved: sign in again.
  }
}

/** Why an institution sign-in was refused, in words (codes: PROTOCOL.md). */
const SIGNIN_REFUSALS = {
  not_configured: 'Signing in with an institution is not set up on this relay. Use your username and password, or ask your administrator.',
  provider_error: 'Your institution’s sign-in did not complete: it was cancelled or refused. Please try again.',
  expired: 'The sign-in took too long, or was started in another window or browser. Please try again.',
  bad_state: 'The sign-in could not be matched to this browser (the state check failed), so it was refused for your safety. Please try again.',
  bad_nonce: 'Your institution’s answer did not belong to this sign-in (the nonce check failed), so it was refused for your safety. Please try again.',
  wrong_audience: 'Your institution’s answer was meant for another application (wrong audience), so it was refused. Please tell your administrator.',
  bad_token: 'Your institution’s answer could not be verified, so it was refused. Please try again, and tell your administrator if it keeps happening.',
  not_ombud: 'You signed in with your institution, but your account is not registered as an ombud here. Ask your office’s administrator to add you.',
  disabled: 'Your ombud account is disabled. Please ask your office’s administrator.',
  unavailable: 'Your institution’s sign-in service could not be reached. Please try again in a moment.',
};

function signedIn(app, res) {
  signInError('');
  app.auth.token = res.token;
  app.auth.ombud = res.ombud;
  sessionStorage.setItem(AUTH_KEY, JSON.stringify(app.auth));
}

function signInError(text) {
  const error = $('#signin-error');
  error.textContent = text;
  show(error, Boolean(text));
}

/**
 * Finish a sign-in with the institution if the address says one just came
 * back: take the fragment out of the address and history at once, then
 * trade the one-time cookie for a session, or say why it was refused.
 */
export async function finishInstitutionSignIn(app) {
  const m = location.hash.match(/^#\/signin\/(done|error\/([a-z_]+))$/);
  if (!m) return;
  history.replaceState(null, '', location.pathname + location.search);
  if (m[1] !== 'done') {
    signInError(SIGNIN_REFUSALS[m[2]] || 'Signing in with your institution did not work. Please try again.');
    return;
  }
  try {
    signedIn(app, await api('POST', '/api/oidc/session'));
  } catch (err) {
    signInError(err.code === 'unauthorized' ? `${err.message.charAt(0).toUpperCase()}${err.message.slice(1)}.` : describeError(err));
  }
}

/** Show the ways to sign in this relay offers (GET /api/login). */
export async function loadSignInOptions() {
  let options;
  try {
    options = await api('GET', '/api/login');
  } catch {
    return; // An older relay, or unreachable: the password form stays.
  }
  const oidc = options.oidc;
  if (oidc) {
    const button = $('#oidc-signin-button');
    button.textContent = `Sign in with ${oidc.institution}`;
    button.dataset.href = oidc.start_url;
  }
  show($('#oidc-signin'), Boolean(oidc));
  show($('#oidc-or'), Boolean(oidc) && options.password);
  show($('#login-form'), options.password);
}

/** Remember a changed `ombud` (its display name) with the session. */
export function saveOmbud(app, ombud) {
  app.auth.ombud = ombud;
  sessionStorage.setItem(AUTH_KEY, JSON.stringify(app.auth));
}

/** Forget the token and everything loaded with it, and show the sign-in view. */
export function signOut(app, message) {
  signInError('');
  app.auth.token = null;
  app.auth.ombud = null;
  app.office = null;
  sessionStorage.removeItem(AUTH_KEY);
  closeRoom(app);
  clearAttention(app);
  route(app);
  if (message) banner(message);
}

/** An API call with the ombud's token; an expired token sends them to sign in. */
export async function call(app, method, path, body, opts = {}) {
  try {
    return await api(method, path, { token: app.auth.token, body, ...opts });
  } catch (err) {
    if (err.code === 'unauthorized' && !opts.noSignOut) {
      signOut(app, 'Your session has expired. Please sign in again.');
    }
    throw err;
  }
}

/** The sign-in form and the "Sign out" button. */
export function wireSession(app) {
  const institution = $('#oidc-signin-button');
  institution.addEventListener('click', () => {
    institution.disabled = true;
    location.assign(institution.dataset.href);
  });
  // Back from the provider's page without signing in: the button works again.
  window.addEventListener('pageshow', () => { institution.disabled = false; });

  $('#login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const error = $('#login-error');
    show(error, false);
    const button = ev.submitter || ev.target.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const res = await api('POST', '/api/login', {
        body: { username: $('#login-username').value.trim(), password: $('#login-password').value },
      });
      signedIn(app, res);
      $('#login-password').value = '';
      route(app);
    } catch (err) {
      error.textContent = err.code === 'unauthorized' ? 'That username and password did not match. Please try again.' : describeError(err);
      show(error, true);
    } finally {
      button.disabled = false;
    }
  });

  // The relay voids every token of this ombud (other tabs and devices too);
  // the tab signs out whether or not the relay could be reached.
  $('#logout').addEventListener('click', async () => {
    const token = app.auth.token;
    if (token) await api('POST', '/api/logout', { token }).catch(() => {});
    signOut(app, 'You have signed out.');
  });
}
