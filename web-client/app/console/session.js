// The ombud's session: the token (kept in sessionStorage, so a reload stays
// signed in), signing in and out, and `call`, the API call that carries it.
// Signing in with the institution leaves for the relay's /api/oidc/start and
// comes back to `#/signin/done` (then a one-time cookie is traded for the
// token by POST) or `#/signin/error/<code>`; either fragment is removed from
// the address at once.

import { api, describeError } from '../api.js';
import { $, show, say } from '../dom.js';
import { setText } from '../i18n.js';
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

/** Why an institution sign-in was refused (codes: PROTOCOL.md; words: `console.signIn.refusal.*`). */
const SIGNIN_REFUSALS = new Set(['not_configured', 'provider_error', 'expired', 'bad_state', 'bad_nonce', 'wrong_audience', 'bad_token', 'not_ombud', 'disabled', 'unavailable']);

function signedIn(app, res) {
  signInError('');
  app.auth.token = res.token;
  app.auth.ombud = res.ombud;
  sessionStorage.setItem(AUTH_KEY, JSON.stringify(app.auth));
}

/** Say why signing in failed (`[key]` or a relay's text; '' hides it). */
function signInError(message) {
  const error = $('#signin-error');
  say(error, message);
  show(error, Boolean(message.length));
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
    signInError([SIGNIN_REFUSALS.has(m[2]) ? `console.signIn.refusal.${m[2]}` : 'console.signIn.failed']);
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
    setText(button, 'console.signIn.withInstitution', { institution: oidc.institution });
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

/** Forget the token and everything loaded with it, and show the sign-in view; `message` (`[key, params]`) goes in the banner. */
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
      signOut(app, ['console.signIn.expired']);
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
      say(error, err.code === 'unauthorized' ? ['console.signIn.mismatch'] : describeError(err));
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
    signOut(app, ['console.signIn.signedOut']);
  });
}
