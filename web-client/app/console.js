// The ombud console (`/`): sign in, list and create rooms, and run one room:
// a column per party thread plus Joint and Notes, the relay workflow
// (redact, edit, preview, consent, status), referrals, co-ombuds, categories,
// transcript, closing the room, and the trends report.

import { api, describeError } from './api.js';
import { $, h, replace, show, confirmDialog, downloadBlob, copyText, randomId } from './dom.js';
import { Connection, statusReporter } from './ws.js';
import { Thread } from './thread.js';
import { openEditor } from './relay-editor.js';
import { renderTrends } from './trends.js';

const AUTH_KEY = 'caucus.ombud';
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_SHOW_MS = 5000;

const STATUS_TEXT = {
  awaiting_consent: (author) => `Waiting for ${author}'s consent`,
  delivered: () => 'Delivered',
  edit_awaiting_consent: (author) => `Change waiting for ${author}'s consent`,
  declined: (author) => `Declined by ${author}`,
  withdrawn: () => 'Withdrawn',
};

const auth = {
  token: null,
  ombud: null,
};

let office = null; // GET /api/office, loaded once per sign-in
let room = null; // state of the open room, see openRoom()

// ---------------------------------------------------------------- auth

function loadAuth() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(AUTH_KEY) || 'null');
    if (saved && saved.token) Object.assign(auth, saved);
  } catch {
    // Nothing usable saved: sign in again.
  }
}

function signOut(message) {
  auth.token = null;
  auth.ombud = null;
  office = null;
  sessionStorage.removeItem(AUTH_KEY);
  closeRoom();
  route();
  if (message) banner(message);
}

/** An API call with the ombud's token; an expired token sends them to sign in. */
async function call(method, path, body, opts = {}) {
  try {
    return await api(method, path, { token: auth.token, body, ...opts });
  } catch (err) {
    if (err.code === 'unauthorized' && !opts.noSignOut) {
      signOut('Your session has expired. Please sign in again.');
    }
    throw err;
  }
}

$('#login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const error = $('#login-error');
  show(error, false);
  const button = ev.submitter || ev.target.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const res = await api('POST', '/api/login', {
      body: { username: $('#login-username').value.trim(), password: $('#login-password').value },
    });
    auth.token = res.token;
    auth.ombud = res.ombud;
    sessionStorage.setItem(AUTH_KEY, JSON.stringify(auth));
    $('#login-password').value = '';
    route();
  } catch (err) {
    error.textContent = err.code === 'unauthorized' ? 'That username and password did not match. Please try again.' : describeError(err);
    show(error, true);
  } finally {
    button.disabled = false;
  }
});

$('#logout').addEventListener('click', () => signOut('You have signed out.'));

// ---------------------------------------------------------------- routing

const VIEWS = ['login-view', 'rooms-view', 'room-view', 'trends-view'];

function showView(id) {
  for (const v of VIEWS) show($(`#${v}`), v === id);
  show($('#nav'), id !== 'login-view');
  document.body.dataset.view = id;
}

function route() {
  hideBanner();
  if (!auth.token) {
    closeRoom();
    showView('login-view');
    $('#login-username').focus();
    return;
  }
  $('#whoami').textContent = `Signed in as ${auth.ombud ? auth.ombud.display_name : ''}`;
  const hash = location.hash;
  const roomMatch = hash.match(/^#\/rooms\/([0-9a-fA-F-]{36})$/);
  if (roomMatch) {
    if (!room || room.id !== roomMatch[1]) openRoom(roomMatch[1]);
    showView('room-view');
  } else if (hash === '#/trends') {
    closeRoom();
    showView('trends-view');
    showTrends();
  } else {
    closeRoom();
    showView('rooms-view');
    loadRooms();
  }
}

window.addEventListener('hashchange', route);

function banner(text) {
  const el = $('#banner');
  el.textContent = text;
  show(el, true);
}

function hideBanner() {
  show($('#banner'), false);
}

function flash(el, text) {
  el.textContent = text;
  show(el, true);
}

// ---------------------------------------------------------------- rooms list

async function loadRooms() {
  const list = $('#room-list');
  show($('#rooms-error'), false);
  try {
    const rooms = await call('GET', '/api/rooms');
    rooms.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    replace(
      list,
      rooms.map((r) =>
        h(
          'li',
          {},
          h(
            'a',
            { href: `#/rooms/${r.id}`, class: 'room-link', testid: 'room-link' },
            h('span', { class: 'room-link-title' }, r.title),
            h('span', { class: 'hint' }, roomSummary(r)),
          ),
        ),
      ),
    );
    show($('#rooms-empty'), rooms.length === 0);
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
  return parts.join(' · ');
}

$('#create-room-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const error = $('#create-error');
  show(error, false);
  const form = ev.target;
  try {
    const created = await call('POST', '/api/rooms', {
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

// ---------------------------------------------------------------- one room

function newRoomState(id) {
  return {
    id,
    info: null, // RoomInfo
    detail: null,
    participants: new Map(), // id -> {id, role, display_name, joined, left, notice_acknowledged}
    me: auth.ombud ? auth.ombud.id : null,
    conn: null,
    columns: new Map(), // channel -> column
    messages: new Map(), // message id -> channel
    forwards: new Map(), // forward id -> forward
    presence: new Map(), // participant id -> online
    typingSent: new Map(), // channel -> last sent ms
    jointOpen: false,
  };
}

function closeRoom() {
  if (!room) return;
  if (room.conn) room.conn.stop();
  room = null;
  replace($('#columns'));
  replace($('#invites'));
  delete $('#category-boxes').dataset.room;
  const dialog = $('#relay-dialog');
  if (dialog.open) dialog.close();
}

async function openRoom(id) {
  closeRoom();
  room = newRoomState(id);
  const r = room;
  $('#room-heading').textContent = 'Loading…';
  $('#room-settings').textContent = '';
  $('#room-ombuds').textContent = '';
  show($('#room-error'), false);
  try {
    const [detail, officeInfo] = await Promise.all([
      call('GET', `/api/rooms/${id}`),
      office ? Promise.resolve(office) : call('GET', '/api/office'),
    ]);
    if (room !== r) return;
    office = officeInfo;
    applyDetail(detail);
  } catch (err) {
    if (room !== r) return;
    $('#room-heading').textContent = 'This room could not be opened';
    flash($('#room-error'), describeError(err));
    return;
  }
  ensureColumn('joint');
  ensureColumn('notes');
  renderTools();
  r.conn = new Connection({
    token: auth.token,
    roomId: id,
    since: null,
    onWelcome: (welcome) => {
      if (room !== r) return;
      r.me = welcome.participant.id;
      r.info = welcome.room;
      setJoint(Boolean(welcome.room.joint_open));
      renderRoomHead();
    },
    onEvent: (seq, event) => {
      if (room === r) onEvent(event);
    },
    onEphemeral: (frame) => {
      if (room === r) onEphemeral(frame);
    },
    onStatus: (status) => {
      if (room !== r) return;
      statusReporter($('#conn-status'))(status);
      if (status.state === 'closed' && status.code === 4001) signOut('Your session has expired. Please sign in again.');
      else if (status.state === 'closed' && status.code) roomGone(status.message);
    },
    onError: (err) => {
      if (room === r) flash($('#room-error'), describeError(err));
    },
  });
  r.conn.start();
}

function applyDetail(detail) {
  room.detail = detail;
  room.info = { ...detail };
  delete room.info.participants;
  for (const p of detail.participants || []) room.participants.set(p.id, { ...p });
  room.jointOpen = Boolean(detail.joint_open);
  if (!room.detailShown) {
    room.detailShown = true;
    for (const tool of document.querySelectorAll('.room-tools details')) tool.open = false;
    // A new room's first step is inviting the parties.
    $('#tool-invite').open = partiesInOrder().length === 0;
  }
  renderRoomHead();
  for (const p of partiesInOrder()) ensureColumn(`private:${p.id}`);
}

function partiesInOrder() {
  return [...room.participants.values()].filter((p) => p.role === 'party');
}

function nameOf(id) {
  const p = room && room.participants.get(id);
  return p ? p.display_name : 'someone';
}

function renderRoomHead() {
  const info = room.info;
  if (!info) return;
  $('#room-heading').textContent = info.title;
  $('#room-settings').textContent = [
    info.consent_required ? 'Relays need the author’s consent' : 'Relays are delivered at once',
    info.attribution === 'anonymous' ? 'recipients are not told who wrote a relayed message' : 'recipients see who wrote a relayed message',
  ].join(' · ');
  const ombuds = [...room.participants.values()].filter((p) => p.role === 'ombud');
  $('#room-ombuds').textContent = ombuds.length
    ? `Ombuds: ${ombuds.map((o) => `${o.display_name}${o.id === room.me ? ' (you)' : room.presence.get(o.id) ? ' (online)' : ''}`).join(', ')}`
    : '';
}

/** The room was closed or access ended: leave the view with an explanation. */
function roomGone(message) {
  const text = message || 'This room is no longer available.';
  closeRoom();
  location.hash = '#/rooms';
  banner(text);
}

// ---- columns ----

function ensureColumn(channel) {
  let col = room.columns.get(channel);
  if (col) return col;
  const kind = channel === 'joint' ? 'joint' : channel === 'notes' ? 'notes' : 'private';
  const partyId = kind === 'private' ? channel.slice('private:'.length) : null;
  const id = `col-${channel.replace(/[^a-z0-9]/gi, '-')}`;
  const title = h('h2', { id: `${id}-title`, class: 'column-title' });
  const presence = h('p', { class: 'presence', testid: 'presence' });
  const typing = h('p', { class: 'typing', testid: 'typing' });
  const list = h('ol', { class: 'messages', role: 'log', 'aria-labelledby': `${id}-title` });
  const empty = h('p', { class: 'empty' }, kind === 'notes' ? 'Private notes for the ombuds of this room.' : 'No messages yet.');
  const input = h('textarea', { id: `${id}-input`, rows: 2, required: true, maxlength: 20000, testid: 'composer-input' });
  const sendButton = h('button', { type: 'submit', class: 'primary', testid: 'composer-send' }, 'Send');
  const label = h('label', { for: `${id}-input` }, kind === 'notes' ? 'Note to the ombuds' : kind === 'joint' ? 'Message to everyone' : 'Message');
  const fieldset = h(
    'fieldset',
    {},
    label,
    input,
    h('div', { class: 'composer-row' }, h('span', { class: 'hint' }, 'Ctrl+Enter sends'), sendButton),
  );
  const form = h('form', { class: 'composer', testid: 'composer' }, fieldset);
  const section = h(
    'section',
    {
      class: ['column', `column-${kind}`],
      testid: 'column',
      'aria-labelledby': `${id}-title`,
      dataset: { channel, kind, ...(partyId ? { partyId } : {}) },
    },
    h('header', { class: 'column-head' }, title, presence),
    h('div', { class: 'scroll' }, empty, list),
    typing,
    form,
  );
  col = {
    channel,
    kind,
    partyId,
    section,
    title,
    presence,
    typing,
    typers: new Map(),
    fieldset,
    input,
    label,
    thread: new Thread(list, {
      me: () => room && room.me,
      authorLabel: (a) => (a.id === room.me ? `${a.display_name} (you)` : a.role === 'ombud' ? `${a.display_name} (ombud)` : a.display_name),
      decorate: (msg, li) => decorateMessage(msg, li),
      empty,
    }),
  };
  room.columns.set(channel, col);
  const submit = (ev) => {
    ev.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    sendMessage(col, body, randomId());
    input.value = '';
    input.focus();
  };
  form.addEventListener('submit', submit);
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) submit(ev);
  });
  input.addEventListener('input', () => sendTyping(channel));
  placeColumn(col);
  refreshColumnHead(col);
  return col;
}

/** Party columns first (in the order they were invited), then Joint, then Notes. */
function placeColumn(col) {
  const container = $('#columns');
  if (col.kind === 'private') {
    const firstShared = container.querySelector('[data-kind="joint"], [data-kind="notes"]');
    container.insertBefore(col.section, firstShared);
  } else if (col.kind === 'joint') {
    container.insertBefore(col.section, container.querySelector('[data-kind="notes"]'));
  } else {
    container.append(col.section);
  }
}

function refreshColumnHead(col) {
  if (col.kind === 'joint') {
    col.title.textContent = 'Joint session';
    col.presence.textContent = room.jointOpen ? 'Open: every party reads this' : 'Closed';
    col.fieldset.disabled = !room.jointOpen;
    col.section.dataset.open = String(room.jointOpen);
    return;
  }
  if (col.kind === 'notes') {
    col.title.textContent = 'Notes';
    col.presence.textContent = 'Ombuds only';
    return;
  }
  const p = room.participants.get(col.partyId);
  const name = p ? p.display_name : 'Party';
  col.title.textContent = name;
  col.section.dataset.name = name;
  col.label.textContent = `Message to ${name}`;
  let status;
  if (!p || !p.joined) status = 'Invited, not joined yet';
  else if (p.left) status = 'Has left';
  else if (room.presence.get(p.id) === true) status = 'Online';
  else if (room.presence.get(p.id) === false) status = 'Offline';
  // Presence is ephemeral: until someone comes or goes, we do not know.
  else status = 'Joined';
  if (p && p.joined && !p.left && !p.notice_acknowledged) status += ' · has not acknowledged the notice yet';
  col.presence.textContent = status;
  col.presence.dataset.online = String(Boolean(p && room.presence.get(p.id)));
  col.fieldset.disabled = Boolean(p && p.left);
}

function columnFor(channel) {
  if (channel.startsWith('private:') && !room.columns.has(channel)) {
    const id = channel.slice('private:'.length);
    if (!room.participants.has(id)) room.participants.set(id, { id, role: 'party', display_name: 'Party', joined: true, left: false, notice_acknowledged: false });
  }
  return ensureColumn(channel);
}

function sendMessage(col, body, clientId) {
  const thread = col.thread;
  if (!thread.byClientId.has(clientId)) {
    thread.addPending({ clientId, body, author: { id: room.me, role: 'ombud', display_name: auth.ombud ? auth.ombud.display_name : 'You' } });
  } else {
    thread.markPendingSending(clientId);
  }
  const r = room;
  r.conn
    .request({ type: 'send', channel: col.channel, body, client_id: clientId }, { retry: true })
    .catch((err) => thread.failPending(clientId, describeError(err), () => room === r && sendMessage(col, body, clientId)));
}

function sendTyping(channel) {
  const now = Date.now();
  if (now - (room.typingSent.get(channel) || 0) < TYPING_SEND_EVERY_MS) return;
  room.typingSent.set(channel, now);
  room.conn.notify({ type: 'typing', channel });
}

function systemLine(channel, text) {
  const col = columnFor(channel);
  col.thread.appendItem(h('li', { class: 'system', testid: 'system-line' }, text));
}

// ---- events ----

function onEvent(event) {
  switch (event.kind) {
    case 'message': {
      room.messages.set(event.id, event.channel);
      columnFor(event.channel).thread.upsert(event);
      break;
    }
    case 'message_edited': {
      const col = room.columns.get(event.channel);
      if (col) col.thread.edit(event.message_id, event.body, event.edited_at);
      refreshForwardsOf(event.message_id);
      break;
    }
    case 'message_retracted': {
      const col = room.columns.get(event.channel);
      if (col) col.thread.retract(event.message_id);
      break;
    }
    case 'forward_status':
      upsertForward({
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
        renderForward(f);
      }
      break;
    }
    case 'participant_joined': {
      const p = event.participant;
      const known = room.participants.get(p.id) || { left: false, notice_acknowledged: false };
      room.participants.set(p.id, { ...known, ...p, joined: true });
      if (p.role === 'party') {
        const col = ensureColumn(`private:${p.id}`);
        refreshColumnHead(col);
        systemLine(col.channel, `${p.display_name} joined.`);
      }
      renderRoomHead();
      renderTools();
      break;
    }
    case 'participant_left': {
      const p = room.participants.get(event.participant_id);
      if (p) p.left = true;
      const col = room.columns.get(`private:${event.participant_id}`);
      if (col) {
        refreshColumnHead(col);
        systemLine(col.channel, `${nameOf(event.participant_id)} left the conversation.`);
      }
      renderTools();
      break;
    }
    case 'notice_acknowledged': {
      const p = room.participants.get(event.participant_id);
      if (p) p.notice_acknowledged = true;
      const col = room.columns.get(`private:${event.participant_id}`);
      if (col) {
        refreshColumnHead(col);
        systemLine(col.channel, `${nameOf(event.participant_id)} acknowledged the office notice.`);
      }
      break;
    }
    case 'joint_opened':
      setJoint(true);
      systemLine('joint', `Joint session opened by ${nameOf(event.by)}.`);
      break;
    case 'joint_closed':
      setJoint(false);
      systemLine('joint', `Joint session closed by ${nameOf(event.by)}.`);
      break;
    case 'room_closed':
      roomGone('This room was closed and everything in it was deleted.');
      break;
    default:
      break;
  }
}

function onEphemeral(frame) {
  if (frame.type === 'presence') {
    room.presence.set(frame.participant_id, frame.online);
    const col = room.columns.get(`private:${frame.participant_id}`);
    if (col) refreshColumnHead(col);
    renderRoomHead();
  } else if (frame.type === 'typing') {
    if (frame.participant_id === room.me) return;
    const col = room.columns.get(frame.channel);
    if (!col) return;
    clearTimeout(col.typers.get(frame.participant_id));
    col.typers.set(
      frame.participant_id,
      setTimeout(() => {
        col.typers.delete(frame.participant_id);
        renderTyping(col);
      }, TYPING_SHOW_MS),
    );
    renderTyping(col);
  }
}

function renderTyping(col) {
  const names = [...col.typers.keys()].map(nameOf);
  col.typing.textContent = names.length ? `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…` : '';
}

function setJoint(open) {
  room.jointOpen = open;
  const button = $('#joint-toggle');
  button.textContent = open ? 'Close joint session' : 'Open joint session';
  button.setAttribute('aria-pressed', String(open));
  const col = room.columns.get('joint');
  if (col) refreshColumnHead(col);
}

$('#joint-toggle').addEventListener('click', async () => {
  const button = $('#joint-toggle');
  button.disabled = true;
  try {
    await room.conn.request({ type: 'joint', open: !room.jointOpen });
  } catch (err) {
    flash($('#room-error'), describeError(err));
  } finally {
    button.disabled = false;
  }
});

// ---- messages: actions ----

function decorateMessage(msg, li) {
  if (msg.retracted) return;
  const actions = h('div', { class: 'msg-actions' });
  const isPartyMessage = msg.author.role === 'party' && msg.channel.startsWith('private:');
  if (isPartyMessage && msg.shareable !== false) {
    actions.append(h('button', { type: 'button', class: 'small', testid: 'relay-to', on: { click: () => relayMessage(msg.id) } }, 'Relay to…'));
  }
  if (msg.author.id === room.me) {
    actions.append(
      h('button', { type: 'button', class: 'small', testid: 'edit-message', on: { click: () => editMessage(msg.id) } }, 'Edit'),
      h('button', { type: 'button', class: 'small danger-text', testid: 'retract-message', on: { click: () => retractMessage(msg.id) } }, 'Retract'),
    );
  }
  if (msg.relayed_from) {
    const f = room.forwards.get(msg.relayed_from.forward_id);
    if (f && f.status === 'edit_awaiting_consent') {
      li.append(h('p', { class: 'pill waiting', testid: 'edit-pending' }, `A change is waiting for ${sourceAuthorName(f)}'s consent.`));
    }
  }
  if (actions.children.length) li.append(actions);
  if (isPartyMessage) {
    const list = h('ul', { class: 'forwards', testid: 'forwards', 'aria-label': 'Relays of this message' });
    for (const f of room.forwards.values()) if (f.source_message_id === msg.id) list.append(forwardItem(f));
    li.append(list);
  }
}

function findMessage(id) {
  const channel = room.messages.get(id);
  const col = channel && room.columns.get(channel);
  return col ? col.thread.get(id) : null;
}

function relayMessage(messageId) {
  const entry = findMessage(messageId);
  if (!entry) return;
  const msg = entry.msg;
  const authorId = msg.author.id;
  const others = partiesInOrder().filter((p) => p.id !== authorId && !p.left);
  const consent = room.info.consent_required;
  openEditor({
    mode: 'forward',
    title: `Relay ${msg.author.display_name}’s message`,
    sendLabel: consent ? 'Send for consent' : 'Send',
    original: { id: msg.id, body: msg.body },
    initialText: msg.body,
    recipients: others.map((p) => ({ id: p.id, name: p.display_name, checked: others.length === 1 })),
    attributionName: room.info.attribution === 'anonymous' ? null : msg.author.display_name,
    consentNote: consent
      ? `${msg.author.display_name} will be asked to approve this exact text before anything is delivered.`
      : 'This room does not ask for consent: the text is delivered at once.',
    suggest: suggestFor,
    submit: async ({ body, to }) => {
      const result = await room.conn.request({ type: 'forward', source_message_id: msg.id, to, body });
      upsertForward({
        forward_id: result.forward_id,
        revision: result.revision,
        status: result.status,
        source_message_id: msg.id,
        to,
        body,
        delivered: result.delivered || [],
      }, { fromAck: true });
    },
  });
}

async function suggestFor(messageId) {
  const result = await room.conn.request({ type: 'suggest_redactions', message_id: messageId });
  return (result && result.spans) || [];
}

function editMessage(messageId) {
  const entry = findMessage(messageId);
  if (!entry) return;
  const msg = entry.msg;
  const rf = msg.relayed_from;
  const source = rf ? findMessage(rf.message_id) : null;
  const f = rf ? room.forwards.get(rf.forward_id) : null;
  const consent = Boolean(rf && room.info.consent_required && f);
  openEditor({
    mode: 'edit',
    title: rf ? 'Edit a relayed message' : 'Edit your message',
    sendLabel: consent ? 'Send change for consent' : 'Save change',
    original: source ? { id: source.msg.id, body: source.msg.body } : null,
    initialText: msg.body,
    attributionName: rf ? rf.display_name || null : null,
    consentNote: consent ? `${sourceAuthorName(f)} will be asked to approve the new text before the recipient sees it.` : '',
    suggest: suggestFor,
    submit: async ({ body }) => {
      const result = await room.conn.request({ type: 'edit', message_id: msg.id, body });
      // Editing a relayed copy revises its forward; in a consent room the
      // ack says `pending_consent` and the copy shows the change is waiting.
      if (result && result.forward_id && f) {
        upsertForward({ ...f, revision: result.revision, status: result.status, body, delivered: result.delivered || f.delivered }, { fromAck: true });
      }
    },
  });
}

async function retractMessage(messageId) {
  const entry = findMessage(messageId);
  if (!entry) return;
  const ok = await confirmDialog({
    title: 'Retract this message?',
    body: entry.msg.relayed_from
      ? 'The recipient will see that the ombud withdrew this relayed message; its text disappears from their thread.'
      : 'Its text disappears from the thread for everyone who can see it.',
    confirmLabel: 'Retract',
    danger: true,
    testid: 'retract-dialog',
  });
  if (!ok || !room) return;
  try {
    await room.conn.request({ type: 'retract', message_id: messageId });
  } catch (err) {
    flash($('#room-error'), describeError(err));
  }
}

// ---- forwards ----

function sourceAuthorName(f) {
  const entry = findMessage(f.source_message_id);
  return entry ? entry.msg.author.display_name : 'the author';
}

function upsertForward(next, { fromAck = false } = {}) {
  const prev = room.forwards.get(next.forward_id);
  // Events arrive in order; an ack may arrive after newer events, so it
  // never overrides what we already know.
  if (prev && (prev.revision > next.revision || (fromAck && prev.revision === next.revision))) return;
  const f = { ...(prev || {}), ...next };
  if (!prev || prev.revision !== next.revision) {
    f.note = null;
    f.decision = null;
  }
  room.forwards.set(f.forward_id, f);
  renderForward(f);
  // Relayed copies show whether a change awaits consent: redraw them.
  for (const id of f.delivered || []) {
    const col = room.columns.get(room.messages.get(id));
    if (col && col.thread.has(id)) col.thread.upsert(col.thread.get(id).msg);
  }
}

function refreshForwardsOf(messageId) {
  for (const f of room.forwards.values()) if (f.source_message_id === messageId) renderForward(f);
}

function renderForward(f) {
  const entry = findMessage(f.source_message_id);
  if (!entry) return;
  const list = entry.li.querySelector('.forwards');
  if (!list) return;
  const item = forwardItem(f);
  const old = list.querySelector(`[data-forward-id="${f.forward_id}"]`);
  if (old) old.replaceWith(item);
  else list.append(item);
}

function forwardItem(f) {
  const author = sourceAuthorName(f);
  const statusText = (STATUS_TEXT[f.status] || (() => f.status))(author);
  const li = h(
    'li',
    { class: 'forward', testid: 'forward', dataset: { forwardId: f.forward_id, status: f.status, revision: String(f.revision) } },
    h(
      'p',
      { class: 'forward-head' },
      h('span', { class: `pill status-${f.status}`, testid: 'forward-status' }, statusText),
      ' ',
      h('span', { class: 'hint' }, `to ${(f.to || []).map(nameOf).join(', ')}${f.revision > 1 ? ` · version ${f.revision}` : ''}`),
    ),
    h('blockquote', { class: 'forward-body', testid: 'forward-body' }, f.body),
    f.note ? h('p', { class: 'hint', testid: 'forward-note' }, `${author}’s note: `, f.note) : null,
  );
  const actions = h('div', { class: 'button-row' });
  const waiting = f.status === 'awaiting_consent' || f.status === 'edit_awaiting_consent';
  if (waiting || f.status === 'declined') {
    actions.append(h('button', { type: 'button', class: 'small', testid: 'forward-update', on: { click: () => updateForward(f.forward_id) } }, 'Update'));
  }
  if (waiting || f.status === 'declined') {
    const label = f.status === 'edit_awaiting_consent' ? 'Withdraw change' : 'Withdraw';
    actions.append(h('button', { type: 'button', class: 'small danger-text', testid: 'forward-withdraw', on: { click: () => withdrawForward(f.forward_id) } }, label));
  }
  if (actions.children.length) li.append(actions);
  return li;
}

function updateForward(forwardId) {
  const f = room.forwards.get(forwardId);
  if (!f) return;
  const source = findMessage(f.source_message_id);
  const consent = room.info.consent_required;
  openEditor({
    mode: 'update',
    title: 'Update the relayed text',
    sendLabel: consent ? 'Send update for consent' : 'Send update',
    original: source ? { id: source.msg.id, body: source.msg.body } : null,
    initialText: f.body,
    attributionName: room.info.attribution === 'anonymous' ? null : source ? source.msg.author.display_name : null,
    consentNote: consent ? `${sourceAuthorName(f)} will be asked again: an earlier approval no longer counts.` : '',
    suggest: suggestFor,
    submit: async ({ body }) => {
      const result = await room.conn.request({ type: 'forward_update', forward_id: forwardId, body });
      if (result && result.revision) {
        upsertForward({ ...f, revision: result.revision, status: result.status || f.status, body }, { fromAck: true });
      }
    },
  });
}

async function withdrawForward(forwardId) {
  try {
    await room.conn.request({ type: 'forward_withdraw', forward_id: forwardId });
  } catch (err) {
    flash($('#room-error'), describeError(err));
  }
}

// ---- room tools ----

function renderTools() {
  if (!room || !office) return;
  const parties = partiesInOrder().filter((p) => !p.left);
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

$('#invite-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const error = $('#invite-error');
  show(error, false);
  const name = $('#invite-name').value.trim();
  if (!name || !room) return;
  try {
    const invite = await call('POST', `/api/rooms/${room.id}/parties`, { display_name: name });
    $('#invite-name').value = '';
    if (!room.participants.has(invite.party_id)) {
      room.participants.set(invite.party_id, { id: invite.party_id, role: 'party', display_name: name, joined: false, left: false, notice_acknowledged: false });
    }
    ensureColumn(`private:${invite.party_id}`);
    renderTools();
    showInvite(name, invite);
  } catch (err) {
    flash(error, describeError(err));
  }
});

function showInvite(name, invite) {
  const link = location.origin + invite.invite_url;
  const inputId = `invite-${invite.party_id}`;
  const input = h('input', { id: inputId, type: 'text', readonly: true, value: link, testid: 'invite-link', 'data-name': name });
  const status = h('span', { class: 'form-status', role: 'status' });
  const copy = h('button', { type: 'button', class: 'secondary small', testid: 'invite-copy' }, 'Copy');
  copy.addEventListener('click', async () => {
    status.textContent = (await copyText(link, input)) ? 'Copied.' : 'Select the link and copy it.';
  });
  input.addEventListener('focus', () => input.select());
  $('#invites').prepend(
    h(
      'li',
      { class: 'invite', testid: 'invite' },
      h('label', { for: inputId }, `Invitation link for ${name}`),
      h('div', { class: 'copy-row' }, input, copy),
      status,
      h('p', { class: 'hint' }, 'Send it privately. It works once, and is not shown again.'),
    ),
  );
}

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
    await room.conn.request({ type: 'refer', party_id: partyId, resource_id: resourceId, client_id: randomId() });
    status.textContent = `Sent to ${nameOf(partyId)}.`;
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
    await call('POST', `/api/rooms/${room.id}/ombuds`, { username });
    $('#add-ombud-username').value = '';
    status.textContent = `${username} can now open this room.`;
    const detail = await call('GET', `/api/rooms/${room.id}`);
    if (room) applyDetail(detail);
  } catch (err) {
    status.textContent = err.code === 'not_found' ? 'There is no ombud account with that username.' : describeError(err);
  }
});

$('#categories-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const status = $('#categories-status');
  const items = [...document.querySelectorAll('#category-boxes input[name="category"]:checked')].map((i) => i.value);
  try {
    await call('PUT', `/api/rooms/${room.id}/categories`, { items });
    if (room.detail) room.detail.categories = items;
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
    await call('PUT', `/api/rooms/${room.id}/terms`, { items });
    if (room.detail) room.detail.sensitive_terms = items;
    status.textContent = `Saved ${items.length} term${items.length === 1 ? '' : 's'}.`;
  } catch (err) {
    status.textContent = describeError(err);
  }
});

$('#room-transcript').addEventListener('click', async () => {
  show($('#room-error'), false);
  try {
    const res = await call('GET', `/api/rooms/${room.id}/transcript?format=html`, undefined, { raw: true });
    downloadBlob(await res.blob(), `caucus-room-transcript.html`);
  } catch (err) {
    flash($('#room-error'), describeError(err));
  }
});

$('#close-room').addEventListener('click', async () => {
  if (!room) return;
  const r = room;
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
  if (!ok || room !== r) return;
  try {
    await call('DELETE', `/api/rooms/${r.id}`);
    roomGone('The room was closed and everything in it was deleted.');
  } catch (err) {
    flash($('#room-error'), describeError(err));
  }
});

// ---------------------------------------------------------------- trends

function defaultMonths() {
  const now = new Date();
  const to = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}`;
  const start = new Date(now.getFullYear(), now.getMonth() - 11, 1);
  const from = `${start.getFullYear()}-${String(start.getMonth() + 1).padStart(2, '0')}`;
  return { from, to };
}

async function showTrends() {
  const fromInput = $('#trends-from');
  const toInput = $('#trends-to');
  if (!fromInput.value || !toInput.value) {
    const d = defaultMonths();
    fromInput.value = d.from;
    toInput.value = d.to;
  }
  const error = $('#trends-error');
  show(error, false);
  const output = $('#trends-output');
  output.setAttribute('aria-busy', 'true');
  try {
    const report = await call('GET', `/api/reports/trends?from=${encodeURIComponent(fromInput.value)}&to=${encodeURIComponent(toInput.value)}`);
    renderTrends(output, report);
  } catch (err) {
    replace(output);
    flash(error, describeError(err));
  } finally {
    output.removeAttribute('aria-busy');
  }
}

$('#trends-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  showTrends();
});

// ---------------------------------------------------------------- start

loadAuth();
route();

