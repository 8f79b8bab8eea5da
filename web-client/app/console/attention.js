// What needs the ombud's attention, across rooms: the console holds a
// connection to the open room only, so it asks the relay for the room list
// every few seconds (GET /api/rooms) and compares each room's
// `party_messages` with the value this browser last read there (kept in
// localStorage). In the open room, the threads count their unread messages
// themselves (columns.js). The sum goes to the page title, the favicon and
// the Rooms link; a desktop alert, for an ombud who opted in, says only
// that a message is waiting.

import { $ } from '../dom.js';
import { t, setText, clearText } from '../i18n.js';
import { showCount, desktopAlerts, alertsToggle } from '../attention.js';
import { call } from './session.js';
import { banner } from './routing.js';

const KEYS = {
  turnOn: 'common.alerts.turnOn',
  turnOff: 'common.alerts.turnOff',
  denied: 'console.alerts.denied',
};

const POLL_MS = 4000;
const SEEN_KEY = 'caucus.rooms.seen'; // room id -> party_messages read

const alerts = desktopAlerts('caucus.console.notify');

function loadSeen() {
  try {
    return JSON.parse(localStorage.getItem(SEEN_KEY) || '{}') || {};
  } catch {
    return {};
  }
}

function saveSeen(seen) {
  try {
    localStorage.setItem(SEEN_KEY, JSON.stringify(seen));
  } catch {
    // Counts start over next time.
  }
}

/** New party messages in room `r` (from the list) since this browser last read it. */
export function freshIn(r) {
  return Math.max(0, (r.party_messages || 0) - (loadSeen()[r.id] || 0));
}

/** Parties invited but not joined: the ombud may need to send the link again. */
export function notJoined(r) {
  return (r.participants || []).filter((p) => p.role === 'party' && !p.joined && !p.left).length;
}

/** The count for the title, the favicon and the Rooms link, and each room's badges. */
export function refreshAttention(app) {
  const open = app.room;
  const rooms = app.rooms || [];
  let openUnread = 0;
  if (open) for (const col of open.columns.values()) openUnread += col.unread;
  // The open room, read to the end: what the relay counted there is read too.
  const seen = loadSeen();
  const here = open && rooms.find((r) => r.id === open.id);
  if (here && openUnread === 0 && seen[here.id] !== here.party_messages) {
    seen[here.id] = here.party_messages || 0;
    saveSeen(seen);
  }
  let elsewhere = 0;
  for (const r of rooms) if (!open || r.id !== open.id) elsewhere += freshIn(r);
  const total = openUnread + elsewhere;
  showCount(total);
  const navCount = $('#nav-rooms-count');
  showFresh(navCount, elsewhere);
  for (const r of rooms) {
    const badge = document.querySelector(`#room-list [data-room-id="${r.id}"] [data-testid="room-new"]`);
    if (!badge) continue;
    showFresh(badge, freshIn(r));
  }
}

/** "3 new" in a badge, hidden at 0. */
function showFresh(el, n) {
  if (n) setText(el, 'console.alerts.fresh', { count: n });
  else clearText(el).textContent = '';
  el.hidden = !n;
}

/** A message arrived where the ombud is not looking. */
export function notify() {
  alerts.notify(t('console.alerts.message'), 'caucus-message');
}

/**
 * Take in a fresh room list. A room (other than the open one) whose parties
 * wrote since the last list raises an alert; so does a room new since then
 * with something unread. The first list after signing in alerts nothing.
 */
export function roomsUpdated(app, rooms) {
  const first = !app.roomsSeen;
  const before = new Map((app.rooms || []).map((r) => [r.id, r.party_messages || 0]));
  app.rooms = rooms;
  app.roomsSeen = true;
  const grew = (r) => (before.has(r.id) ? (r.party_messages || 0) > before.get(r.id) : freshIn(r) > 0);
  if (!first && rooms.some((r) => (!app.room || app.room.id !== r.id) && grew(r))) notify();
  refreshAttention(app);
}

/** The room list every few seconds while signed in, the alerts switch, and reading on return. */
export function wireAttention(app) {
  alertsToggle($('#notify-toggle'), alerts, KEYS, banner);
  setInterval(async () => {
    if (!app.auth.token) return;
    try {
      roomsUpdated(app, await call(app, 'GET', '/api/rooms', undefined, { noSignOut: true }));
    } catch {
      // Offline or refused: the next round tries again; a room's own connection says more.
    }
  }, POLL_MS);
}

/** Forget the counts of a session that ended. */
export function clearAttention(app) {
  app.rooms = [];
  app.roomsSeen = false;
  showCount(0);
}
