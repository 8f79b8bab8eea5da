// The office queue and a conversation's own actions. The queue lists
// conversations started at `/contact` that no ombud has claimed yet (the
// visitor's label, how long it has waited, how many messages wait unread;
// never their words), polled every few seconds while the room list shows.
// In a room that began there: turn it into a mediation, hand it to a
// colleague, or close and block it.

import { describeError } from '../api.js';
import { $, h, replace, show, flash, confirmDialog } from '../dom.js';
import { call } from './session.js';

const POLL_MS = 5000;
let timer = null;

function waited(secs) {
  if (secs < 60) return 'just now';
  const mins = Math.floor(secs / 60);
  if (mins < 60) return `${mins} min`;
  const hours = Math.floor(mins / 60);
  return hours < 48 ? `${hours} h` : `${Math.floor(hours / 24)} days`;
}

function entry(app, e) {
  const claim = h('button', { type: 'button', class: 'secondary small', testid: 'queue-claim', 'aria-label': `Claim the conversation with ${e.label}` }, 'Claim');
  claim.addEventListener('click', async () => {
    claim.disabled = true;
    try {
      await call(app, 'POST', `/api/intake/${e.room_id}/claim`);
      location.hash = `#/rooms/${e.room_id}`;
    } catch (err) {
      flash($('#queue-error'), err.code === 'conflict' ? 'A colleague has already claimed this conversation.' : describeError(err));
      refresh(app);
    }
  });
  const unread = `${e.unread} unread ${e.unread === 1 ? 'message' : 'messages'}`;
  return h(
    'li',
    { testid: 'queue-entry', 'data-room': e.room_id },
    h('span', {}, h('strong', {}, e.label), h('span', { class: 'hint queue-meta' }, `waiting ${waited(e.waiting_secs)} · ${unread}`)),
    claim,
  );
}

async function refresh(app) {
  try {
    const queue = await call(app, 'GET', '/api/intake/queue');
    replace($('#queue-list'), queue.map((e) => entry(app, e)));
    show($('#queue-empty'), queue.length === 0);
    $('#queue-count').textContent = queue.length ? `(${queue.length})` : '';
  } catch (err) {
    flash($('#queue-error'), describeError(err));
  }
}

/** Shows the queue and keeps it fresh until [`stopQueue`]. */
export function showQueue(app) {
  stopQueue();
  refresh(app);
  timer = setInterval(() => refresh(app), POLL_MS);
}

export function stopQueue() {
  if (timer) clearInterval(timer);
  timer = null;
}

/** The conversation panel of room `id`, shown only for a room from the contact page. */
export async function showRoomIntake(app, id) {
  const panel = $('#intake-room');
  show(panel, false);
  panel.dataset.room = id;
  let detail;
  try {
    detail = await call(app, 'GET', `/api/rooms/${id}`);
  } catch {
    return; // the room view says what went wrong
  }
  if (!detail.intake || panel.dataset.room !== id) return;
  const consultation = detail.intake.kind === 'consultation';
  $('#intake-kind').textContent = consultation
    ? 'A one-to-one consultation that began on the contact page. Turn it into a mediation to invite other parties.'
    : 'A mediation that began as a conversation on the contact page.';
  show($('#convert-form'), consultation);
  show(panel, true);
}

export function wireIntake(app) {
  const room = () => $('#intake-room').dataset.room;
  $('#convert-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await call(app, 'POST', `/api/rooms/${room()}/convert`, {});
      $('#intake-status').textContent = 'This is now a mediation: you can invite parties.';
      showRoomIntake(app, room());
    } catch (err) {
      $('#intake-status').textContent = describeError(err);
    }
  });
  $('#handoff-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const username = $('#handoff-username').value.trim();
    try {
      await call(app, 'POST', `/api/rooms/${room()}/handoff`, { username });
      location.hash = '#/rooms';
    } catch (err) {
      $('#intake-status').textContent = describeError(err);
    }
  });
  $('#block-button').addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: 'Close and block this conversation?',
      body: 'Everything in it is erased, and the visitor’s return link stops working. This cannot be undone.',
      confirmLabel: 'Close and block',
      danger: true,
      testid: 'block-confirm',
    });
    if (!ok) return;
    try {
      await call(app, 'POST', `/api/rooms/${room()}/block`);
      location.hash = '#/rooms';
    } catch (err) {
      $('#intake-status').textContent = describeError(err);
    }
  });
}
