// The ombud's own name, as parties will see it (PUT /api/me).

import { describeError } from '../api.js';
import { $, show } from '../dom.js';
import { setText } from '../i18n.js';
import { call, saveOmbud } from './session.js';

/** Fill the form from the signed-in ombud. */
export function showProfile(app) {
  const ombud = app.auth.ombud;
  if (!ombud) return;
  $('#profile-display-name').value = ombud.display_name;
  $('#profile-username').textContent = ombud.username;
  show($('#profile-saved'), false);
  show($('#profile-error'), false);
}

export function wireProfile(app) {
  $('#profile-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const saved = $('#profile-saved');
    const error = $('#profile-error');
    show(saved, false);
    show(error, false);
    const button = ev.submitter || ev.target.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const ombud = await call(app, 'PUT', '/api/me', { display_name: $('#profile-display-name').value });
      saveOmbud(app, ombud);
      $('#profile-display-name').value = ombud.display_name;
      setText($('#whoami'), 'console.page.signedInAs', { name: ombud.display_name });
      show(saved, true);
    } catch (err) {
      error.textContent = describeError(err);
      show(error, true);
    } finally {
      button.disabled = false;
    }
  });
}
