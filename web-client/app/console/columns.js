// The room's threads: one per party's private thread (in the order they were
// invited), then Joint and Notes. Each is a column in the conversation pane
// (its thread, presence line, typing line and composer; sending shows the
// message at once as "sending…") and a button in the thread list, which
// shows the party's state and how many messages are unread. One column is
// shown at a time: the selected thread, read when it is on screen.

import { describeError, errorMessage } from '../api.js';
import { $, h, replace, show, flash, randomId, dateTimeText } from '../dom.js';
import { t, setText, onLanguageChange } from '../i18n.js';
import { Thread } from '../thread.js';
import { typingNotifier, typingIndicator } from '../typing.js';
import { nameOf, saveSeen } from './room-state.js';
import { decorateMessage } from './forwards.js';
import { newLink } from './tools.js';
import { refreshAttention, notify } from './attention.js';

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
  const newLinkButton = h('button', { type: 'button', class: 'secondary small', testid: 'new-link', i18n: 'console.columns.newLink' });
  const linkError = h('p', { class: 'error', role: 'alert', hidden: true });
  const linkBox = h('div', { class: 'new-link', testid: 'new-link-box' });
  const partyLine = kind === 'private' ? h('p', { class: 'party-line' }, linkStatus, lastOnline, newLinkButton) : null;
  const typing = h('p', { class: 'typing', testid: 'typing' });
  const list = h('ol', { class: 'messages' });
  const empty = h('p', { class: 'empty', i18n: kind === 'notes' ? 'console.columns.notesHint' : 'console.columns.empty' });
  const input = h('textarea', { id: `${id}-input`, rows: 2, required: true, maxlength: 20000, testid: 'composer-input' });
  const sendButton = h('button', { type: 'submit', class: 'primary', testid: 'composer-send', i18n: 'console.columns.send' });
  const label = h('label', { for: `${id}-input`, i18n: kind === 'notes' ? 'console.columns.noteLabel' : kind === 'joint' ? 'console.columns.messageEveryone' : 'console.columns.message' });
  const fieldset = h(
    'fieldset',
    {},
    label,
    input,
    h('div', { class: 'composer-row' }, h('span', { class: 'hint', i18n: 'console.columns.ctrlEnter' }), sendButton),
  );
  const form = h('form', { class: 'composer', testid: 'composer' }, fieldset);
  const section = h(
    'section',
    {
      id,
      class: ['column', `column-${kind}`],
      testid: 'column',
      hidden: true,
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
  const tabName = h('span', { class: 'thread-name' });
  const tabStatus = h('span', { class: 'thread-status' });
  const tabCount = h('span', { class: 'count', testid: 'thread-unread', hidden: true });
  const tab = h(
    'button',
    { type: 'button', class: 'thread-tab', testid: 'thread-tab', 'aria-controls': id, 'aria-current': 'false', dataset: { channel, kind } },
    tabName,
    tabStatus,
    tabCount,
  );
  col = {
    channel,
    tab,
    tabItem: h('li', {}, tab),
    tabName,
    tabStatus,
    tabCount,
    unread: 0,
    lastSeq: 0, // the newest seq of a message in this thread
    section,
    kind,
    partyId,
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
      // A key and its name, so "(you)" follows a language change.
      authorLabel: (a) => (a.id === app.room.me ? ['console.columns.selfName', { name: a.display_name }] : a.role === 'ombud' ? ['console.columns.ombudName', { name: a.display_name }] : a.display_name),
      decorate: (msg, li) => decorateMessage(app, msg, li),
      empty,
    }),
  };
  room.columns.set(channel, col);
  tab.addEventListener('click', () => selectThread(app, channel));
  newLinkButton.addEventListener('click', async () => {
    newLinkButton.disabled = true;
    show(linkError, false);
    try {
      const shown = await newLink(app, partyId);
      if (shown && app.room === room) {
        replace(linkBox, shown);
        refreshColumnHead(app, col);
        shown.querySelector('textarea').focus();
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

/** Party threads first (in the order they were invited), then Joint, then Notes: columns and list alike. */
function placeColumn(col) {
  for (const [container, el, of] of [[$('#columns'), col.section, (e) => e], [$('#thread-list'), col.tabItem, (e) => e && e.closest('li')]]) {
    if (col.kind === 'private') {
      container.insertBefore(el, of(container.querySelector('[data-kind="joint"], [data-kind="notes"]')));
    } else if (col.kind === 'joint') {
      container.insertBefore(el, of(container.querySelector('[data-kind="notes"]')));
    } else {
      container.append(el);
    }
  }
}

/** Show `channel`'s thread in the conversation pane; it is read from now on. */
export function selectThread(app, channel) {
  const room = app.room;
  const col = room && room.columns.get(channel);
  if (!col) return;
  room.selected = channel;
  for (const c of room.columns.values()) {
    c.section.hidden = c !== col;
    c.tab.setAttribute('aria-current', String(c === col));
  }
  // A hidden scroll box forgets where it was: follow the end again.
  if (col.thread.stick) col.thread.scrollToEnd();
  markSeen(app, col);
}

/** The thread the ombud is looking at now (selected, page visible). */
function watching(app, col) {
  return app.room.selected === col.channel && document.visibilityState === 'visible';
}

/** Everything in `col` counts as read (if it is on screen). */
export function markSeen(app, col) {
  const room = app.room;
  if (!watching(app, col)) return;
  room.seen[col.channel] = Math.max(room.seen[col.channel] || 0, col.lastSeq);
  saveSeen(room);
  if (col.unread) {
    col.unread = 0;
    refreshTab(col);
  }
  refreshAttention(app);
}

/**
 * A message arrived in `col` with `seq`: unread unless it is the ombud's
 * own, was read before (the last `seq` read is kept per thread in
 * localStorage), or is on screen. A new one (not a replay) is announced
 * and may raise a desktop notification.
 */
export function countMessage(app, col, seq, msg, replay) {
  const room = app.room;
  col.lastSeq = Math.max(col.lastSeq, seq);
  const mine = msg.author && msg.author.id === room.me;
  if (mine || seq <= (room.seen[col.channel] || 0)) return;
  if (watching(app, col)) {
    markSeen(app, col);
    return;
  }
  col.unread += 1;
  refreshTab(col);
  refreshAttention(app);
  if (!replay) {
    const who = col.thread.label(msg.author);
    $('#announcer').textContent = t('console.columns.announce', { name: Array.isArray(who) ? t(...who) : who, thread: col.tabName.textContent });
    notify('message');
  }
}

/** The unread count on the thread's button. */
function refreshTab(col) {
  col.tabCount.textContent = col.unread ? t('console.columns.unread', { count: col.unread }) : '';
  col.tabCount.hidden = !col.unread;
  col.tab.dataset.unread = String(col.unread);
}

/**
 * Up and Down move along the thread list, Home and End to its ends; coming
 * back to the page reads the thread on screen.
 */
export function wireThreadList(app) {
  // Heads and the list are drawn with words around data: drawn again in a new language.
  onLanguageChange(() => {
    if (!app.room) return;
    for (const col of app.room.columns.values()) {
      refreshColumnHead(app, col);
      refreshTab(col);
    }
  });
  document.addEventListener('visibilitychange', () => {
    const room = app.room;
    const col = room && room.columns.get(room.selected);
    if (col) markSeen(app, col);
  });
  $('#thread-list').addEventListener('keydown', (ev) => {
    const tabs = [...$('#thread-list').querySelectorAll('.thread-tab')];
    const at = tabs.indexOf(document.activeElement);
    if (at === -1) return;
    const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: tabs.length - 1 }[ev.key];
    if (to === undefined || !tabs[to]) return;
    ev.preventDefault();
    tabs[to].focus();
  });
}

/** The column's title, who is there, and whether its composer is usable. */
export function refreshColumnHead(app, col) {
  const room = app.room;
  if (col.kind === 'joint') {
    col.title.textContent = t('console.columns.joint');
    col.presence.textContent = t(room.jointOpen ? 'console.columns.jointOpen' : 'console.columns.closed');
    col.fieldset.disabled = !room.jointOpen;
    col.section.dataset.open = String(room.jointOpen);
    setTab(col, t('console.columns.joint'), t(room.jointOpen ? 'console.columns.open' : 'console.columns.closed'));
    return;
  }
  if (col.kind === 'notes') {
    col.title.textContent = t('console.columns.notes');
    col.presence.textContent = t('console.columns.ombudsOnly');
    setTab(col, t('console.columns.notes'), t('console.columns.ombudsOnly'));
    return;
  }
  const p = room.participants.get(col.partyId);
  const name = p ? p.display_name : t('console.columns.party');
  col.title.textContent = name;
  col.section.dataset.name = name;
  setText(col.label, 'console.columns.messageTo', { name });
  let status;
  if (!p || !p.joined) status = t('console.columns.invited');
  else if (p.left) status = t('console.columns.hasLeft');
  else if (room.presence.get(p.id) === true) status = t('console.columns.online');
  else if (room.presence.get(p.id) === false) status = t('console.columns.offline');
  // Presence is ephemeral: until someone comes or goes, we do not know.
  else status = t('console.columns.joined');
  const pending = p && p.joined && !p.left && !p.notice_acknowledged;
  col.presence.textContent = pending ? `${status} · ${t('console.columns.noticePending')}` : status;
  col.presence.dataset.online = String(Boolean(p && room.presence.get(p.id)));
  col.fieldset.disabled = Boolean(p && p.left);
  const link = (p && p.link) || 'unused';
  col.linkStatus.dataset.status = link;
  col.linkStatus.textContent = LINK_STATUS[link] ? t(LINK_STATUS[link]) : link;
  col.lastOnline.textContent = lastOnlineText(room, p);
  col.newLinkButton.hidden = Boolean(p && p.left);
  // The list says in a few words what the head says in full.
  const short = !p || !p.joined ? t(LINK_STATUS[link] || 'console.columns.invitedShort') : status;
  setTab(col, name, short);
  col.tab.dataset.name = name;
  col.tab.dataset.online = col.presence.dataset.online;
}

function setTab(col, name, status) {
  col.tabName.textContent = name;
  col.tabStatus.textContent = status;
}

const LINK_STATUS = {
  unused: 'console.columns.linkUnused',
  used: 'console.columns.linkUsed',
  replaced: 'console.columns.newLinkUnused',
};

function lastOnlineText(room, p) {
  if (p && room.presence.get(p.id) === true) return t('console.columns.onlineNow');
  const date = p && p.last_online_at ? dateTimeText(p.last_online_at) : '';
  return date ? t('console.columns.lastOnline', { date }) : t('console.columns.neverOnline');
}

/** Like ensureColumn, but a private channel of a party not known yet gets a placeholder party. */
export function columnFor(app, channel) {
  const room = app.room;
  if (channel.startsWith('private:') && !room.columns.has(channel)) {
    const id = channel.slice('private:'.length);
    if (!room.participants.has(id)) room.participants.set(id, { id, role: 'party', display_name: t('console.columns.party'), joined: true, left: false, notice_acknowledged: false });
  }
  return ensureColumn(app, channel);
}

function sendMessage(app, col, body, clientId) {
  const thread = col.thread;
  const ombud = app.auth.ombud;
  if (!thread.byClientId.has(clientId)) {
    thread.addPending({ clientId, body, author: { id: app.room.me, role: 'ombud', display_name: ombud ? ombud.display_name : t('console.columns.you') } });
  } else {
    thread.markPendingSending(clientId);
  }
  const r = app.room;
  r.conn
    .request({ type: 'send', channel: col.channel, body, client_id: clientId }, { retry: true })
    // Retrying is offered only while the same room is open.
    .catch((err) => thread.failPending(clientId, errorMessage(err), () => app.room === r && sendMessage(app, col, body, clientId)));
}

/** A line in a thread that is not a message ("Ana joined."), as `[key, params]`. */
export function systemLine(app, channel, message) {
  const col = columnFor(app, channel);
  col.thread.appendItem(h('li', { class: 'system', testid: 'system-line', i18n: message }));
}
