// The room's tools: inviting parties (a one-time link each, shown until the
// party joins, and a new one for a party coming back), sending a
// resource, adding a co-ombud, categories and sensitive terms (also added
// from the relay editor), downloading the transcript, and closing the room.

import { describeError } from '../api.js';
import { $, h, replace, show, flash, say, confirmDialog, downloadBlob, copyText, randomId } from '../dom.js';
import { t } from '../i18n.js';
import { call } from './session.js';
import { partiesInOrder, nameOf } from './room-state.js';
import { ensureColumn, selectThread } from './columns.js';
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
        : h('p', { class: 'hint', i18n: 'console.tools.categoriesNone' }),
    );
    $('#terms-input').value = ((room.detail && room.detail.sensitive_terms) || []).join('\n');
    for (const id of ['#refer-status', '#add-ombud-status', '#categories-status', '#terms-status']) say($(id), '');
  }
}

/** A party's link, shown once, to copy and send privately; `label` is a locale key taking `{name}`. */
function inviteItem(name, invite, { tag = 'li', label = 'console.tools.inviteLink' } = {}) {
  const link = location.origin + invite.invite_url;
  const inputId = `invite-${invite.party_id}-${randomId().slice(0, 8)}`;
  const input = h('textarea', { id: inputId, class: 'link-field', rows: 3, readonly: true, value: link, testid: 'invite-link', 'data-name': name });
  const status = h('span', { class: 'form-status', role: 'status' });
  const copy = h('button', { type: 'button', class: 'secondary small', testid: 'invite-copy', i18n: 'console.tools.copy' });
  copy.addEventListener('click', async () => {
    say(status, [(await copyText(link, input)) ? 'console.tools.copied' : 'console.tools.selectCopy']);
  });
  input.addEventListener('focus', () => input.select());
  return h(
    tag,
    { class: 'invite', testid: 'invite', dataset: { partyId: invite.party_id } },
    h('label', { for: inputId, i18n: [label, { name }] }),
    h('div', { class: 'copy-row' }, input, copy),
    status,
    h('p', { class: 'hint', i18n: 'console.tools.sendPrivately' }),
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
    say($('#terms-status'), ['console.tools.termsSaved', { count: items.length }]);
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
    title: t('console.tools.newLinkTitle', { name }),
    body: [t('console.tools.newLinkKeeps', { name }), t('console.tools.newLinkStops', { name })],
    confirmLabel: t('console.tools.newLinkConfirm'),
    testid: 'new-link-dialog',
  });
  if (!ok || app.room !== r) return null;
  const invite = await call(app, 'POST', `/api/rooms/${r.id}/parties/${partyId}/link`);
  if (app.room !== r) return null;
  const p = r.participants.get(partyId);
  if (p) p.link = 'replaced';
  r.presence.set(partyId, false);
  return inviteItem(name, invite, { tag: 'div', label: 'console.tools.newLinkFor' });
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
      say(status, ['console.tools.referChoose']);
      return;
    }
    say(status, ['console.tools.referSending']);
    try {
      await app.room.conn.request({ type: 'refer', party_id: partyId, resource_id: resourceId, client_id: randomId() });
      say(status, ['console.tools.referSent', { name: nameOf(app.room, partyId) }]);
    } catch (err) {
      say(status, describeError(err));
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
      say(status, ['console.tools.addOmbudDone', { username }]);
      const detail = await call(app, 'GET', `/api/rooms/${app.room.id}`);
      if (app.room) applyDetail(app, detail);
    } catch (err) {
      say(status, err.code === 'not_found' ? ['console.tools.addOmbudUnknown'] : describeError(err));
    }
  });

  $('#categories-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('#categories-status');
    const items = [...document.querySelectorAll('#category-boxes input[name="category"]:checked')].map((i) => i.value);
    try {
      await call(app, 'PUT', `/api/rooms/${app.room.id}/categories`, { items });
      if (app.room.detail) app.room.detail.categories = items;
      say(status, items.length ? ['console.tools.categoriesSaved', { items: items.join(', ') }] : ['console.tools.categoriesSavedNone']);
    } catch (err) {
      say(status, describeError(err));
    }
  });

  $('#terms-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('#terms-status');
    const items = $('#terms-input').value.split('\n').map((t) => t.trim()).filter(Boolean);
    try {
      await call(app, 'PUT', `/api/rooms/${app.room.id}/terms`, { items });
      if (app.room.detail) app.room.detail.sensitive_terms = items;
      say(status, ['console.tools.termsSaved', { count: items.length }]);
    } catch (err) {
      say(status, describeError(err));
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
      title: t('console.tools.closeTitle', { title: r.info ? r.info.title : t('console.tools.thisRoom') }),
      body: [t('console.tools.closeBody'), t('console.tools.closeTranscript')],
      confirmLabel: t('console.tools.closeConfirm'),
      danger: true,
      testid: 'close-room-dialog',
    });
    if (!ok || app.room !== r) return;
    try {
      await call(app, 'DELETE', `/api/rooms/${r.id}`);
      roomGone(app, ['console.room.closedDeleted']);
    } catch (err) {
      flash($('#room-error'), describeError(err));
    }
  });
}
