// One room in the console: opening it (its details, then the live
// connection), its heading, the events and ephemeral frames that change it,
// the joint session switch, and leaving it.

import { describeError } from '../api.js';
import { $, replace, show, flash } from '../dom.js';
import { t, setText, clearText, onLanguageChange } from '../i18n.js';
import { Connection, statusReporter } from '../ws.js';
import { call, signOut } from './session.js';
import { banner } from './routing.js';
import { newRoomState, partiesInOrder, nameOf, forgetRoom } from './room-state.js';
import { ensureColumn, columnFor, refreshColumnHead, systemLine, selectThread, countMessage, wireThreadList } from './columns.js';
import { upsertForward, renderForward, refreshForwardsOf } from './forwards.js';
import { renderTools } from './tools.js';
import { closeEditor } from '../relay-editor.js';
import { oneTextEvent, renderOneText } from './onetext.js';

/** Stop the open room's connection and clear what it put on the page. */
export function closeRoom(app) {
  const room = app.room;
  if (!room) return;
  if (room.conn) room.conn.stop();
  app.room = null;
  replace($('#columns'));
  replace($('#thread-list'));
  replace($('#relay-summary'));
  show($('#relays-empty'), true);
  replace($('#invites'));
  delete $('#category-boxes').dataset.room;
  closeEditor({ restoreFocus: false });
}

/**
 * Open room `id` as `app.room`. Every callback first checks that it is still
 * the open room: the ombud may have moved on while a request was out.
 */
export async function openRoom(app, id) {
  closeRoom(app);
  const r = newRoomState(id, app.auth.ombud);
  app.room = r;
  setText($('#room-heading'), 'console.room.loading');
  $('#room-settings').textContent = '';
  $('#room-ombuds').textContent = '';
  show($('#room-error'), false);
  try {
    const [detail, officeInfo] = await Promise.all([
      call(app, 'GET', `/api/rooms/${id}`),
      app.office ? Promise.resolve(app.office) : call(app, 'GET', '/api/office'),
    ]);
    if (app.room !== r) return;
    app.office = officeInfo;
    applyDetail(app, detail);
  } catch (err) {
    if (app.room !== r) return;
    setText($('#room-heading'), 'console.room.couldNotOpen');
    flash($('#room-error'), describeError(err));
    return;
  }
  ensureColumn(app, 'joint');
  ensureColumn(app, 'notes');
  const first = partiesInOrder(r).find((p) => !p.left);
  selectThread(app, first ? `private:${first.id}` : 'notes');
  renderTools(app);
  renderOneText(app);
  r.conn = new Connection({
    token: app.auth.token,
    roomId: id,
    since: null,
    onWelcome: (welcome) => {
      if (app.room !== r) return;
      r.me = welcome.participant.id;
      r.info = welcome.room;
      setJoint(app, Boolean(welcome.room.joint_open));
      renderRoomHead(app);
    },
    onEvent: (seq, event, info) => {
      if (app.room === r) onEvent(app, event, seq, Boolean(info && info.replay));
    },
    onEphemeral: (frame) => {
      if (app.room === r) onEphemeral(app, frame);
    },
    onStatus: (status) => {
      if (app.room !== r) return;
      statusReporter($('#conn-status'))(status);
      for (const col of r.columns.values()) col.thread.setConnected(status.state === 'online');
      if (status.state === 'closed' && status.code === 4001) signOut(app, ['console.signIn.expired']);
      else if (status.state === 'closed' && status.code) roomGone(app, [status.key, status.params]);
    },
    onError: (err) => {
      if (app.room === r) flash($('#room-error'), describeError(err));
    },
  });
  r.conn.start();
}

/** Take in the room's details (GET /api/rooms/<id>): settings, participants, a column per party. */
export function applyDetail(app, detail) {
  const room = app.room;
  room.detail = detail;
  room.info = { ...detail };
  delete room.info.participants;
  for (const p of detail.participants || []) room.participants.set(p.id, { ...p });
  room.jointOpen = Boolean(detail.joint_open);
  if (!room.detailShown) {
    room.detailShown = true;
    for (const tool of document.querySelectorAll('.room-tools details')) tool.open = false;
    // A new room's first step is inviting the parties.
    $('#tool-invite').open = partiesInOrder(room).length === 0;
  }
  renderRoomHead(app);
  for (const p of partiesInOrder(room)) ensureColumn(app, `private:${p.id}`);
}

function renderRoomHead(app) {
  const room = app.room;
  const info = room.info;
  if (!info) return;
  clearText($('#room-heading')).textContent = info.title;
  $('#room-settings').textContent = [
    t(info.consent_required ? 'console.room.consent' : 'console.room.noConsent'),
    t(info.attribution === 'anonymous' ? 'console.room.anonymous' : 'console.room.named'),
  ].join(' · ');
  const ombuds = [...room.participants.values()].filter((p) => p.role === 'ombud');
  const ombudName = (o) => {
    if (o.id === room.me) return t('console.columns.selfName', { name: o.display_name });
    return room.presence.get(o.id) ? t('console.room.ombudOnline', { name: o.display_name }) : o.display_name;
  };
  $('#room-ombuds').textContent = ombuds.length ? t('console.room.ombuds', { names: ombuds.map(ombudName).join(', ') }) : '';
}

/** The room was closed or access ended: leave the view with an explanation (`[key, params]` or a text). */
export function roomGone(app, message) {
  if (app.room) forgetRoom(app.room.id);
  closeRoom(app);
  location.hash = '#/rooms';
  banner(message || ['console.room.unavailable']);
}

// ---- events ----

function onEvent(app, event, seq, replay) {
  const room = app.room;
  oneTextEvent(app, event);
  switch (event.kind) {
    case 'message': {
      room.messages.set(event.id, event.channel);
      const col = columnFor(app, event.channel);
      col.thread.upsert(event);
      countMessage(app, col, seq, event, replay);
      // Their message is here, so they are no longer typing it.
      if (event.author) col.showTyping.clear(event.author.id);
      break;
    }
    case 'message_edited': {
      const col = room.columns.get(event.channel);
      if (col) col.thread.edit(event.message_id, event.body, event.edited_at);
      refreshForwardsOf(app, event.message_id);
      break;
    }
    case 'message_retracted': {
      const col = room.columns.get(event.channel);
      if (col) col.thread.retract(event.message_id);
      break;
    }
    case 'forward_status':
      upsertForward(app, {
        forward_id: event.forward_id,
        revision: event.revision,
        status: event.status,
        source_message_id: event.source_message_id,
        to: event.to,
        body: event.body,
        delivered: event.delivered || [],
      });
      break;
    case 'consent_decided': {
      const f = room.forwards.get(event.forward_id);
      if (f && f.revision === event.revision) {
        f.note = event.note || null;
        f.decision = event.decision;
        renderForward(app, f);
      }
      break;
    }
    case 'participant_joined': {
      const p = event.participant;
      const known = room.participants.get(p.id) || { left: false, notice_acknowledged: false };
      room.participants.set(p.id, { ...known, ...p, joined: true, ...(p.role === 'party' ? { link: 'used' } : {}) });
      if (p.role === 'party') {
        // Its link is spent: the invitation folds into the party's status.
        const invite = document.querySelector(`#invites [data-party-id="${p.id}"]`);
        if (invite) invite.remove();
        const col = ensureColumn(app, `private:${p.id}`);
        refreshColumnHead(app, col);
        systemLine(app, col.channel, ['console.room.joined', { name: p.display_name }]);
      }
      renderRoomHead(app);
      renderTools(app);
      break;
    }
    case 'participant_left': {
      const p = room.participants.get(event.participant_id);
      if (p) p.left = true;
      const col = room.columns.get(`private:${event.participant_id}`);
      if (col) {
        refreshColumnHead(app, col);
        systemLine(app, col.channel, ['console.room.left', { name: nameOf(room, event.participant_id) }]);
      }
      renderTools(app);
      break;
    }
    case 'notice_acknowledged': {
      const p = room.participants.get(event.participant_id);
      if (p) p.notice_acknowledged = true;
      const col = room.columns.get(`private:${event.participant_id}`);
      if (col) {
        refreshColumnHead(app, col);
        systemLine(app, col.channel, ['console.room.acknowledged', { name: nameOf(room, event.participant_id) }]);
      }
      break;
    }
    case 'joint_opened':
      setJoint(app, true);
      systemLine(app, 'joint', ['console.room.jointOpened', { name: nameOf(room, event.by) }]);
      break;
    case 'joint_closed':
      setJoint(app, false);
      systemLine(app, 'joint', ['console.room.jointClosed', { name: nameOf(room, event.by) }]);
      break;
    case 'room_closed':
      roomGone(app, ['console.room.closedDeleted']);
      break;
    default:
      break;
  }
}

function onEphemeral(app, frame) {
  const room = app.room;
  if (frame.type === 'presence') {
    // Going offline is the last moment a party was online (the relay keeps
    // the same, to within a minute, for the next time the room is opened).
    const p = room.participants.get(frame.participant_id);
    if (p && p.role === 'party' && (frame.online || room.presence.get(p.id))) p.last_online_at = new Date().toISOString();
    room.presence.set(frame.participant_id, frame.online);
    const col = room.columns.get(`private:${frame.participant_id}`);
    if (col) refreshColumnHead(app, col);
    renderRoomHead(app);
  } else if (frame.type === 'typing') {
    if (frame.participant_id === room.me) return;
    const col = room.columns.get(frame.channel);
    if (!col) return;
    col.showTyping(frame.participant_id);
  }
}

// ---- joint session ----

function setJoint(app, open) {
  app.room.jointOpen = open;
  const button = $('#joint-toggle');
  setText(button, open ? 'console.room.closeJoint' : 'console.room.openJoint');
  button.setAttribute('aria-pressed', String(open));
  const col = app.room.columns.get('joint');
  if (col) refreshColumnHead(app, col);
}

export function wireRoomView(app) {
  wireThreadList(app);
  onLanguageChange(() => {
    if (app.room) renderRoomHead(app);
  });
  $('#joint-toggle').addEventListener('click', async () => {
    const button = $('#joint-toggle');
    button.disabled = true;
    try {
      await app.room.conn.request({ type: 'joint', open: !app.room.jointOpen });
    } catch (err) {
      flash($('#room-error'), describeError(err));
    } finally {
      button.disabled = false;
    }
  });
}
