// The room's columns: one per party's private thread (in the order they were
// invited), then Joint and Notes. Each has its thread, presence line, typing
// line and composer; sending shows the message at once as "sending…".

import { describeError } from '../api.js';
import { $, h, replace, show, flash, randomId } from '../dom.js';
import { Thread } from '../thread.js';
import { typingNotifier, typingIndicator } from '../typing.js';
import { nameOf } from './room-state.js';
import { decorateMessage } from './forwards.js';
import { newLink } from './tools.js';

/** The column for `channel` in the open room, created on first use. */
export function ensureColumn(app, channel) {
  const room = app.room;
  let col = room.columns.get(channel);
  if (col) return col;
  const kind = channel === 'joint' ? 'joint' : channel === 'notes' ? 'notes' : 'private';
  const partyId = kind === 'private' ? channel.slice('private:'.length) : null;
  const id = `col-${channel.replace(/[^a-z0-9]/gi, '-')}`;
  const title = h('h2', { id: `${id}-title`, class: 'column-title' });
  const presence = h('p', { class: 'presence', testid: 'presence' });
  // A party's link and when it was last online, and a new link when it needs one.
  const linkStatus = h('span', { testid: 'link-status' });
  const lastOnline = h('span', { testid: 'last-online' });
  const newLinkButton = h('button', { type: 'button', class: 'secondary small', testid: 'new-link' }, 'New link');
  const linkError = h('p', { class: 'error', role: 'alert', hidden: true });
  const linkBox = h('div', { class: 'new-link', testid: 'new-link-box' });
  const partyLine = kind === 'private' ? h('p', { class: 'party-line' }, linkStatus, lastOnline, newLinkButton) : null;
  const typing = h('p', { class: 'typing', testid: 'typing' });
  const list = h('ol', { class: 'messages' });
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
    h('header', { class: 'column-head' }, title, presence, partyLine, linkError, kind === 'private' ? linkBox : null),
    // The log (a polite live region) wraps the list: an <li> must sit
    // directly in a list, so the <ol> cannot be the log itself.
    h('div', { class: 'scroll', role: 'log', 'aria-labelledby': `${id}-title` }, empty, list),
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
    linkStatus,
    lastOnline,
    newLinkButton,
    showTyping: typingIndicator(typing, (pid) => nameOf(app.room, pid)), // call with whoever is typing here; .clear(pid) when their message arrives
    fieldset,
    input,
    label,
    thread: new Thread(list, {
      me: () => app.room && app.room.me,
      authorLabel: (a) => (a.id === app.room.me ? `${a.display_name} (you)` : a.role === 'ombud' ? `${a.display_name} (ombud)` : a.display_name),
      decorate: (msg, li) => decorateMessage(app, msg, li),
      empty,
    }),
  };
  room.columns.set(channel, col);
  newLinkButton.addEventListener('click', async () => {
    newLinkButton.disabled = true;
    show(linkError, false);
    try {
      const shown = await newLink(app, partyId);
      if (shown && app.room === room) {
        replace(linkBox, shown);
        refreshColumnHead(app, col);
        shown.querySelector('input').focus();
      }
    } catch (err) {
      flash(linkError, describeError(err));
    } finally {
      newLinkButton.disabled = false;
    }
  });
  const submit = (ev) => {
    ev.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    sendMessage(app, col, body, randomId());
    input.value = '';
    input.focus();
  };
  form.addEventListener('submit', submit);
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) submit(ev);
  });
  const sendTyping = typingNotifier(() => app.room.conn);
  input.addEventListener('input', () => sendTyping(channel));
  placeColumn(col);
  refreshColumnHead(app, col);
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

/** The column's title, who is there, and whether its composer is usable. */
export function refreshColumnHead(app, col) {
  const room = app.room;
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
  const link = (p && p.link) || 'unused';
  col.linkStatus.dataset.status = link;
  col.linkStatus.textContent = LINK_STATUS[link] || link;
  col.lastOnline.textContent = lastOnlineText(room, p);
  col.newLinkButton.hidden = Boolean(p && p.left);
}

const LINK_STATUS = {
  unused: 'Link not used yet',
  used: 'Link used',
  replaced: 'New link, not used yet',
};

function lastOnlineText(room, p) {
  if (p && room.presence.get(p.id) === true) return 'Online now';
  if (!p || !p.last_online_at) return 'Never online';
  const at = new Date(p.last_online_at);
  if (Number.isNaN(at.getTime())) return 'Never online';
  return `Last online ${at.toLocaleString([], { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' })}`;
}

/** Like ensureColumn, but a private channel of a party not known yet gets a placeholder party. */
export function columnFor(app, channel) {
  const room = app.room;
  if (channel.startsWith('private:') && !room.columns.has(channel)) {
    const id = channel.slice('private:'.length);
    if (!room.participants.has(id)) room.participants.set(id, { id, role: 'party', display_name: 'Party', joined: true, left: false, notice_acknowledged: false });
  }
  return ensureColumn(app, channel);
}

function sendMessage(app, col, body, clientId) {
  const thread = col.thread;
  const ombud = app.auth.ombud;
  if (!thread.byClientId.has(clientId)) {
    thread.addPending({ clientId, body, author: { id: app.room.me, role: 'ombud', display_name: ombud ? ombud.display_name : 'You' } });
  } else {
    thread.markPendingSending(clientId);
  }
  const r = app.room;
  r.conn
    .request({ type: 'send', channel: col.channel, body, client_id: clientId }, { retry: true })
    // Retrying is offered only while the same room is open.
    .catch((err) => thread.failPending(clientId, describeError(err), () => app.room === r && sendMessage(app, col, body, clientId)));
}

/** A line in a thread that is not a message ("Ana joined."). */
export function systemLine(app, channel, text) {
  const col = columnFor(app, channel);
  col.thread.appendItem(h('li', { class: 'system', testid: 'system-line' }, text));
}
