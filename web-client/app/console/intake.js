// The office queue and a conversation's own actions. The queue lists
// conversations started at `/contact` that no ombud has claimed yet (the
// visitor's label, how long it has waited, how many messages wait unread;
// never their words), polled every few seconds while the room list shows.
// In a room that began there: turn it into a mediation, hand it to a
// colleague, or close and block it.

import { describeError } from '../api.js';
import { $, h, replace, show, flash, say, confirmDialog } from '../dom.js';
import { t } from '../i18n.js';
import { call } from './session.js';

const POLL_MS = 5000;
let timer = null;

/** "waiting 5 min", as `[key, params]`. */
function waited(secs) {
  if (secs < 60) return ['console.intake.waitingNow'];
  const mins = Math.floor(secs / 60);
  const hours = Math.floor(mins / 60);
  const time = mins < 60
    ? t('console.intake.minutes', { count: mins })
    : hours < 48 ? t('console.intake.hours', { count: hours }) : t('console.intake.days', { count: Math.floor(hours / 24) });
  return ['console.intake.waiting', { time }];
}

function entry(app, e) {
  const claim = h('button', {
    type: 'button',
    class: 'secondary small',
    testid: 'queue-claim',
    'aria-label': t('console.intake.claimLabel', { label: e.label }),
    i18n: 'console.intake.claim',
  });
  claim.addEventListener('click', async () => {
    claim.disabled = true;
    try {
      await call(app, 'POST', `/api/intake/${e.room_id}/claim`);
      location.hash = `#/rooms/${e.room_id}`;
    } catch (err) {
      flash($('#queue-error'), err.code === 'conflict' ? ['console.intake.claimed'] : describeError(err));
      refresh(app);
    }
  });
  return h(
    'li',
    { testid: 'queue-entry', 'data-room': e.room_id },
    h(
      'span',
      {},
      h('strong', {}, e.label),
      h('span', { class: 'hint queue-meta' }, h('span', { i18n: waited(e.waiting_secs) }), ' · ', h('span', { i18n: ['console.intake.unread', { count: e.unread }] })),
    ),
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
  say($('#intake-kind'), [consultation ? 'console.intake.consultation' : 'console.intake.mediation']);
  show($('#convert-form'), consultation);
  show(panel, true);
}

export function wireIntake(app) {
  const room = () => $('#intake-room').dataset.room;
  $('#convert-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await call(app, 'POST', `/api/rooms/${room()}/convert`, {});
      say($('#intake-status'), ['console.intake.converted']);
      showRoomIntake(app, room());
    } catch (err) {
      say($('#intake-status'), describeError(err));
    }
  });
  $('#handoff-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const username = $('#handoff-username').value.trim();
    try {
      await call(app, 'POST', `/api/rooms/${room()}/handoff`, { username });
      location.hash = '#/rooms';
    } catch (err) {
      say($('#intake-status'), describeError(err));
    }
  });
  $('#block-button').addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: t('console.intake.blockTitle'),
      body: t('console.intake.blockBody'),
      confirmLabel: t('console.intake.blockConfirm'),
      danger: true,
      testid: 'block-confirm',
    });
    if (!ok) return;
    try {
      await call(app, 'POST', `/api/rooms/${room()}/block`);
      location.hash = '#/rooms';
    } catch (err) {
      say($('#intake-status'), describeError(err));
    }
  });
}
