// The room list (newest first, with a one-line summary of each room's
// settings, and what waits there: new messages, parties not joined) and the
// form that creates a room.

import { describeError } from '../api.js';
import { $, h, replace, show, flash, dateTimeEl } from '../dom.js';
import { call } from './session.js';
import { roomsUpdated, notJoined } from './attention.js';

export async function loadRooms(app) {
  show($('#rooms-error'), false);
  try {
    const rooms = await call(app, 'GET', '/api/rooms');
    rooms.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    renderRooms(rooms);
    show($('#rooms-empty'), rooms.length === 0);
    roomsUpdated(app, rooms);
  } catch (err) {
    flash($('#rooms-error'), describeError(err));
  }
}

/** The list, every word of it marked with its key, so a language change re-translates it in place. */
function renderRooms(rooms) {
  const list = $('#room-list');
  replace(
    list,
    rooms.map((r) => {
      const waiting = notJoined(r);
      return h(
        'li',
        { dataset: { roomId: r.id } },
        h(
          'a',
          { href: `#/rooms/${r.id}`, class: 'room-link', testid: 'room-link' },
          h(
            'span',
            { class: 'room-link-head' },
            h('span', { class: 'room-link-title' }, r.title),
            // Filled in by attention.js, which keeps them current.
            h('span', { class: 'count', testid: 'room-new', hidden: true }),
            waiting ? h('span', { class: 'pill waiting', testid: 'room-waiting', i18n: ['console.rooms.waiting', { count: waiting }] }) : null,
          ),
          h('span', { class: 'hint' }, roomSummary(r)),
        ),
      );
    }),
  );
}

/** "created 2 Dec 2026, 14:05 · 2 parties · …": the date a `<time>` (dom.js) that follows the language. */
function roomSummary(r) {
  const parts = [];
  if (r.created_at) parts.push([h('span', { i18n: 'console.rooms.created' }), ' ', dateTimeEl(r.created_at)]);
  const parties = (r.participants || []).filter((p) => p.role === 'party');
  if (r.participants) parts.push(h('span', { i18n: ['console.rooms.parties', { count: parties.length }] }));
  parts.push(h('span', { i18n: r.consent_required ? 'console.rooms.consent' : 'console.rooms.noConsent' }));
  parts.push(h('span', { i18n: r.attribution === 'anonymous' ? 'console.rooms.anonymous' : 'console.rooms.named' }));
  if (r.joint_open) parts.push(h('span', { i18n: 'console.rooms.jointOpen' }));
  if (r.intake) parts.push(h('span', { i18n: r.intake.kind === 'consultation' ? 'console.rooms.fromContactConsultation' : 'console.rooms.fromContact' }));
  return parts.flatMap((part, i) => (i ? [' · ', part] : [part]));
}

/** Creating a room opens it (through the address, like following a link). */
export function wireRooms(app) {
  $('#create-room-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const error = $('#create-error');
    show(error, false);
    const form = ev.target;
    try {
      const created = await call(app, 'POST', '/api/rooms', {
        title: $('#room-title-input').value.trim(),
        consent_required: $('#room-consent').checked,
        attribution: form.querySelector('input[name="attribution"]:checked').value,
      });
      form.reset();
      location.hash = `#/rooms/${created.id}`;
    } catch (err) {
      flash(error, describeError(err));
    }
  });
}
