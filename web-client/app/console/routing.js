// Which view the console shows: sign-in without a session, otherwise the
// one the address names (#/rooms/<id>, #/trends, else the room list); and the
// banner above the views for what happened on the way (signed out, room closed).

import { $, show, flash } from '../dom.js';
import { setText } from '../i18n.js';
import { openRoom, closeRoom } from './room-view.js';
import { loadRooms } from './rooms.js';
import { showTrends } from './trends-view.js';
import { showProfile } from './profile.js';
import { showQueue, stopQueue, showRoomIntake } from './intake.js';

const VIEWS = ['login-view', 'rooms-view', 'room-view', 'trends-view'];

function showView(id) {
  for (const v of VIEWS) show($(`#${v}`), v === id);
  show($('#nav'), id !== 'login-view');
  document.body.dataset.view = id;
}

/** Show the view for the session and the address, loading what it needs. */
export function route(app) {
  hideBanner();
  stopQueue();
  if (!app.auth.token) {
    closeRoom(app);
    showView('login-view');
    $('#login-username').focus();
    return;
  }
  setText($('#whoami'), 'console.page.signedInAs', { name: app.auth.ombud ? app.auth.ombud.display_name : '' });
  const hash = location.hash;
  const roomMatch = hash.match(/^#\/rooms\/([0-9a-fA-F-]{36})$/);
  if (roomMatch) {
    // The same room stays open (and connected) when only the view is shown again.
    if (!app.room || app.room.id !== roomMatch[1]) openRoom(app, roomMatch[1]);
    showRoomIntake(app, roomMatch[1]);
    showView('room-view');
  } else if (hash === '#/trends') {
    closeRoom(app);
    showView('trends-view');
    showTrends(app);
  } else {
    closeRoom(app);
    showView('rooms-view');
    showProfile(app);
    loadRooms(app);
    showQueue(app);
  }
}

/** Show `message` (`[key, params]`, or a text already in the page's language) above the views. */
export function banner(message) {
  flash($('#banner'), message);
}

function hideBanner() {
  show($('#banner'), false);
}

/** Follow the address as it changes (links, back and forward). */
export function wireRouting(app) {
  window.addEventListener('hashchange', () => route(app));
}
