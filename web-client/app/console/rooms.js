// The room list (newest first, with a one-line summary of each room's
// settings, and what waits there: new messages, parties not joined) and the
// form that creates a room.

import { describeError } from '../api.js';
import { $, h, replace, show, flash } from '../dom.js';
import { call } from './session.js';
import { roomsUpdated, notJoined } from './attention.js';

const TEXT = {
  waiting: (n) => `${n} not joined yet`,
};

export async function loadRooms(app) {
  const list = $('#room-list');
  show($('#rooms-error'), false);
  try {
    const rooms = await call(app, 'GET', '/api/rooms');
    rooms.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
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
              waiting ? h('span', { class: 'pill waiting', testid: 'room-waiting' }, TEXT.waiting(waiting)) : null,
            ),
            h('span', { class: 'hint' }, roomSummary(r)),
          ),
        );
      }),
    );
    show($('#rooms-empty'), rooms.length === 0);
    roomsUpdated(app, rooms);
  } catch (err) {
    flash($('#rooms-error'), describeError(err));
  }
}

function roomSummary(r) {
  const parts = [];
  if (r.created_at) parts.push(`created ${new Date(r.created_at).toLocaleString()}`);
  const parties = (r.participants || []).filter((p) => p.role === 'party');
  if (r.participants) parts.push(`${parties.length} ${parties.length === 1 ? 'party' : 'parties'}`);
  parts.push(r.consent_required ? 'consent before relaying' : 'relays without consent');
  parts.push(r.attribution === 'anonymous' ? 'anonymous relays' : 'named relays');
  if (r.joint_open) parts.push('joint session open');
  if (r.intake) parts.push(r.intake.kind === 'consultation' ? 'consultation from the contact page' : 'began on the contact page');
  return parts.join(' · ');
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
