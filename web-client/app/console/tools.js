// The room's tools: inviting parties (a one-time link each, shown until the
// party joins, and a new one for a party coming back), sending a
// resource, adding a co-ombud, categories and sensitive terms (also added
// from the relay editor), downloading the transcript, and closing the room.

import { describeError } from '../api.js';
import { $, h, replace, show, flash, confirmDialog, downloadBlob, copyText, randomId } from '../dom.js';
import { call } from './session.js';
import { partiesInOrder, nameOf } from './room-state.js';
import { ensureColumn, selectThread } from './columns.js';

const TEXT = {
  termsSaved: (n) => `Saved ${n} term${n === 1 ? '' : 's'}.`,
};
import { applyDetail, roomGone } from './room-view.js';

/**
 * Fill the tools for the open room: the party and resource choices always;
 * the categories, terms and status lines only when the room changed, so a
 * redraw never drops what the ombud is editing.
 */
export function renderTools(app) {
  const { room, office } = app;
  if (!room || !office) return;
  const parties = partiesInOrder(room).filter((p) => !p.left);
  const partySelect = $('#refer-party');
  const chosen = partySelect.value;
  replace(partySelect, parties.map((p) => h('option', { value: p.id, selected: p.id === chosen }, p.display_name)));
  const resourceSelect = $('#refer-resource');
  if (resourceSelect.options.length !== office.resources.length) {
    replace(resourceSelect, office.resources.map((r) => h('option', { value: r.id }, r.title)));
  }
  const boxes = $('#category-boxes');
  const tagged = new Set((room.detail && room.detail.categories) || []);
  if (!boxes.dataset.room || boxes.dataset.room !== room.id) {
    boxes.dataset.room = room.id;
    replace(
      boxes,
      office.categories.length
        ? office.categories.map((c) =>
            h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'category', value: c, checked: tagged.has(c), testid: 'category' }), ` ${c}`),
          )
        : h('p', { class: 'hint' }, 'The office has no categories configured.'),
    );
    $('#terms-input').value = ((room.detail && room.detail.sensitive_terms) || []).join('\n');
    for (const id of ['#refer-status', '#add-ombud-status', '#categories-status', '#terms-status']) $(id).textContent = '';
  }
}

/** A party's link, shown once, to copy and send privately. */
function inviteItem(name, invite, { tag = 'li', label = `Invitation link for ${name}` } = {}) {
  const link = location.origin + invite.invite_url;
  const inputId = `invite-${invite.party_id}-${randomId().slice(0, 8)}`;
  const input = h('textarea', { id: inputId, class: 'link-field', rows: 3, readonly: true, value: link, testid: 'invite-link', 'data-name': name });
  const status = h('span', { class: 'form-status', role: 'status' });
  const copy = h('button', { type: 'button', class: 'secondary small', testid: 'invite-copy' }, 'Copy');
  copy.addEventListener('click', async () => {
    status.textContent = (await copyText(link, input)) ? 'Copied.' : 'Select the link and copy it.';
  });
  input.addEventListener('focus', () => input.select());
  return h(
    tag,
    { class: 'invite', testid: 'invite', dataset: { partyId: invite.party_id } },
    h('label', { for: inputId }, label),
    h('div', { class: 'copy-row' }, input, copy),
    status,
    h('p', { class: 'hint' }, 'Send it privately. It works once, and is not shown again.'),
  );
}

function showInvite(name, invite) {
  $('#invites').prepend(inviteItem(name, invite));
}

/**
 * Add one sensitive term to `room` (from the relay editor): saved with the
 * room's terms (PUT /api/rooms/<id>/terms), and shown in the terms tool.
 */
export async function addSensitiveTerm(app, room, term) {
  const items = [...((room.detail && room.detail.sensitive_terms) || []), term];
  await call(app, 'PUT', `/api/rooms/${room.id}/terms`, { items });
  if (room.detail) room.detail.sensitive_terms = items;
  if (app.room === room) {
    $('#terms-input').value = items.join('\n');
    $('#terms-status').textContent = TEXT.termsSaved(items.length);
  }
}

/**
 * A new link for a party already in the room (it closed its tab, lost its
 * device): it keeps its thread, and its earlier link and sessions stop
 * working at once. Returns the element showing the link, or null if the
 * ombud thought better of it.
 */
export async function newLink(app, partyId) {
  const r = app.room;
  const name = nameOf(r, partyId);
  const ok = await confirmDialog({
    title: `Give ${name} a new link?`,
    body: [
      `${name} keeps the whole conversation, and finds it again with the new link.`,
      `The link ${name} has now, and any page where ${name} is still signed in, stop working at once.`,
    ],
    confirmLabel: 'Create a new link',
    testid: 'new-link-dialog',
  });
  if (!ok || app.room !== r) return null;
  const invite = await call(app, 'POST', `/api/rooms/${r.id}/parties/${partyId}/link`);
  if (app.room !== r) return null;
  const p = r.participants.get(partyId);
  if (p) p.link = 'replaced';
  r.presence.set(partyId, false);
  return inviteItem(name, invite, { tag: 'div', label: `New link for ${name}` });
}

// Each handler acts on the room open when it runs (`app.room`, read again
// after every wait).
export function wireTools(app) {
  $('#invite-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const error = $('#invite-error');
    show(error, false);
    const name = $('#invite-name').value.trim();
    if (!name || !app.room) return;
    try {
      const invite = await call(app, 'POST', `/api/rooms/${app.room.id}/parties`, { display_name: name });
      $('#invite-name').value = '';
      if (!app.room.participants.has(invite.party_id)) {
        app.room.participants.set(invite.party_id, { id: invite.party_id, role: 'party', display_name: name, joined: false, left: false, notice_acknowledged: false, link: 'unused' });
      }
      ensureColumn(app, `private:${invite.party_id}`);
      selectThread(app, `private:${invite.party_id}`);
      renderTools(app);
      showInvite(name, invite);
    } catch (err) {
      flash(error, describeError(err));
    }
  });

  $('#refer-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('#refer-status');
    const partyId = $('#refer-party').value;
    const resourceId = $('#refer-resource').value;
    if (!partyId || !resourceId) {
      status.textContent = 'Choose a party and a resource.';
      return;
    }
    status.textContent = 'Sending…';
    try {
      await app.room.conn.request({ type: 'refer', party_id: partyId, resource_id: resourceId, client_id: randomId() });
      status.textContent = `Sent to ${nameOf(app.room, partyId)}.`;
    } catch (err) {
      status.textContent = describeError(err);
    }
  });

  $('#add-ombud-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('#add-ombud-status');
    const username = $('#add-ombud-username').value.trim();
    if (!username) return;
    try {
      await call(app, 'POST', `/api/rooms/${app.room.id}/ombuds`, { username });
      $('#add-ombud-username').value = '';
      status.textContent = `${username} can now open this room.`;
      const detail = await call(app, 'GET', `/api/rooms/${app.room.id}`);
      if (app.room) applyDetail(app, detail);
    } catch (err) {
      status.textContent = err.code === 'not_found' ? 'There is no ombud account with that username.' : describeError(err);
    }
  });

  $('#categories-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('#categories-status');
    const items = [...document.querySelectorAll('#category-boxes input[name="category"]:checked')].map((i) => i.value);
    try {
      await call(app, 'PUT', `/api/rooms/${app.room.id}/categories`, { items });
      if (app.room.detail) app.room.detail.categories = items;
      status.textContent = items.length ? `Saved: ${items.join(', ')}.` : 'Saved: no categories.';
    } catch (err) {
      status.textContent = describeError(err);
    }
  });

  $('#terms-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('#terms-status');
    const items = $('#terms-input').value.split('\n').map((t) => t.trim()).filter(Boolean);
    try {
      await call(app, 'PUT', `/api/rooms/${app.room.id}/terms`, { items });
      if (app.room.detail) app.room.detail.sensitive_terms = items;
      status.textContent = TEXT.termsSaved(items.length);
    } catch (err) {
      status.textContent = describeError(err);
    }
  });

  $('#room-transcript').addEventListener('click', async () => {
    show($('#room-error'), false);
    try {
      const res = await call(app, 'GET', `/api/rooms/${app.room.id}/transcript?format=html`, undefined, { raw: true });
      downloadBlob(await res.blob(), `caucus-room-transcript.html`);
    } catch (err) {
      flash($('#room-error'), describeError(err));
    }
  });

  $('#close-room').addEventListener('click', async () => {
    if (!app.room) return;
    const r = app.room;
    const ok = await confirmDialog({
      title: `Close “${r.info ? r.info.title : 'this room'}”?`,
      body: [
        'Everything in this room will be deleted, permanently and for everyone: every thread, message, relay and note. The parties will be told the room was closed.',
        'Download the transcript first if you need it. This cannot be undone.',
      ],
      confirmLabel: 'Close and delete everything',
      danger: true,
      testid: 'close-room-dialog',
    });
    if (!ok || app.room !== r) return;
    try {
      await call(app, 'DELETE', `/api/rooms/${r.id}`);
      roomGone(app, 'The room was closed and everything in it was deleted.');
    } catch (err) {
      flash($('#room-error'), describeError(err));
    }
  });
}
