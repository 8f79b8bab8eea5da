// The ombud's session: the token (kept in sessionStorage, so a reload stays
// signed in), signing in and out, and `call`, the API call that carries it.

import { api, describeError } from '../api.js';
import { $, show } from '../dom.js';
import { route, banner } from './routing.js';
import { closeRoom } from './room-view.js';

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

/** Forget the token and everything loaded with it, and show the sign-in view. */
export function signOut(app, message) {
  app.auth.token = null;
  app.auth.ombud = null;
  app.office = null;
  sessionStorage.removeItem(AUTH_KEY);
  closeRoom(app);
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
      app.auth.token = res.token;
      app.auth.ombud = res.ombud;
      sessionStorage.setItem(AUTH_KEY, JSON.stringify(app.auth));
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
