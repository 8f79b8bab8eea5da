// The relay workflow in the console. Under each message, its actions (relay
// a party's message, edit or retract one's own), which open the relay
// editor; under each party message, the list of its relays with their
// status, the author's note, and Update / Withdraw while they are not settled;
// and beside the conversation, every relay of the room with its state.

import { describeError } from '../api.js';
import { $, h, replace, show, flash, confirmDialog } from '../dom.js';
import { t } from '../i18n.js';
import { openEditor } from '../relay-editor.js';
import { partiesInOrder, nameOf, findMessage } from './room-state.js';
import { selectThread } from './columns.js';
import { addSensitiveTerm } from './tools.js';

/** A relay's status in words, `[key, params]`; `name` is its source's author. */
const STATUS_KEYS = {
  awaiting_consent: 'console.forwards.waiting',
  delivered: 'console.forwards.delivered',
  edit_awaiting_consent: 'console.forwards.changeWaiting',
  declined: 'console.forwards.declinedBy',
  withdrawn: 'console.forwards.withdrawn',
};

function statusText(f, name) {
  return STATUS_KEYS[f.status] ? [STATUS_KEYS[f.status], { name }] : ['console.forwards.other', { status: f.status }];
}

// ---- message actions ----

/** Add the actions, and a party message's relays, to a message as its thread draws it. */
export function decorateMessage(app, msg, li) {
  if (msg.retracted) return;
  const room = app.room;
  const actions = h('div', { class: 'msg-actions' });
  const isPartyMessage = msg.author.role === 'party' && msg.channel.startsWith('private:');
  if (isPartyMessage && msg.shareable !== false) {
    actions.append(h('button', { type: 'button', class: 'small', testid: 'relay-to', on: { click: () => relayMessage(app, msg.id) }, i18n: 'console.forwards.relayTo' }));
  }
  if (msg.author.id === room.me) {
    actions.append(
      h('button', { type: 'button', class: 'small', testid: 'edit-message', on: { click: () => editMessage(app, msg.id) }, i18n: 'console.forwards.edit' }),
      h('button', { type: 'button', class: 'small danger-text', testid: 'retract-message', on: { click: () => retractMessage(app, msg.id) }, i18n: 'console.forwards.retract' }),
    );
  }
  if (msg.relayed_from) {
    const f = room.forwards.get(msg.relayed_from.forward_id);
    if (f && f.status === 'edit_awaiting_consent') {
      li.append(h('p', { class: 'pill waiting', testid: 'edit-pending', i18n: ['console.forwards.changeWaitingFor', { name: sourceAuthorName(room, f) }] }));
    }
  }
  if (actions.children.length) li.append(actions);
  if (isPartyMessage) {
    const list = h('ul', { class: 'forwards', testid: 'forwards', i18nAttrs: { 'aria-label': 'console.forwards.relays' } });
    for (const f of room.forwards.values()) if (f.source_message_id === msg.id) list.append(forwardItem(app, f));
    li.append(list);
  }
}

function relayMessage(app, messageId) {
  const room = app.room;
  const entry = findMessage(room, messageId);
  if (!entry) return;
  const msg = entry.msg;
  const authorId = msg.author.id;
  const others = partiesInOrder(room).filter((p) => p.id !== authorId && !p.left);
  const consent = room.info.consent_required;
  openEditor({
    mode: 'forward',
    title: ['console.forwards.relayTitle', { name: msg.author.display_name }],
    sendLabel: [consent ? 'console.forwards.sendForConsent' : 'console.forwards.send'],
    original: { id: msg.id, body: msg.body },
    initialText: msg.body,
    recipients: others.map((p) => ({ id: p.id, name: p.display_name, checked: others.length === 1 })),
    attributionName: room.info.attribution === 'anonymous' ? null : msg.author.display_name,
    consentNote: consent ? ['console.forwards.askApprove', { name: msg.author.display_name }] : ['console.forwards.noConsentRoom'],
    suggest: (id) => suggestFor(app, id),
    ...termOptions(app),
    submit: async ({ body, to }) => {
      const result = await app.room.conn.request({ type: 'forward', source_message_id: msg.id, to, body });
      upsertForward(app, {
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

/** The room's sensitive terms, for the editor to flag and add to. */
function termOptions(app) {
  const room = app.room;
  return {
    terms: () => (room.detail && room.detail.sensitive_terms) || [],
    addTerm: (term) => addSensitiveTerm(app, room, term),
  };
}

async function suggestFor(app, messageId) {
  const result = await app.room.conn.request({ type: 'suggest_redactions', message_id: messageId });
  return (result && result.spans) || [];
}

function editMessage(app, messageId) {
  const room = app.room;
  const entry = findMessage(room, messageId);
  if (!entry) return;
  const msg = entry.msg;
  const rf = msg.relayed_from;
  const source = rf ? findMessage(room, rf.message_id) : null;
  const f = rf ? room.forwards.get(rf.forward_id) : null;
  const consent = Boolean(rf && room.info.consent_required && f);
  openEditor({
    mode: 'edit',
    title: [rf ? 'console.forwards.editRelayedTitle' : 'console.forwards.editOwnTitle'],
    sendLabel: [consent ? 'console.forwards.sendChangeForConsent' : 'console.forwards.saveChange'],
    original: source ? { id: source.msg.id, body: source.msg.body } : null,
    initialText: msg.body,
    attributionName: rf ? rf.display_name || null : null,
    consentNote: consent ? ['console.forwards.askNew', { name: sourceAuthorName(room, f) }] : null,
    suggest: (id) => suggestFor(app, id),
    ...termOptions(app),
    submit: async ({ body }) => {
      const result = await app.room.conn.request({ type: 'edit', message_id: msg.id, body });
      // Editing a relayed copy revises its forward; in a consent room the
      // ack says `pending_consent` and the copy shows the change is waiting.
      if (result && result.forward_id && f) {
        upsertForward(app, { ...f, revision: result.revision, status: result.status, body, delivered: result.delivered || f.delivered }, { fromAck: true });
      }
    },
  });
}

async function retractMessage(app, messageId) {
  const entry = findMessage(app.room, messageId);
  if (!entry) return;
  const ok = await confirmDialog({
    title: t('console.forwards.retractTitle'),
    body: t(entry.msg.relayed_from ? 'console.forwards.withdrawBody' : 'console.forwards.retractBody'),
    confirmLabel: t('console.forwards.retract'),
    danger: true,
    testid: 'retract-dialog',
  });
  if (!ok || !app.room) return;
  try {
    await app.room.conn.request({ type: 'retract', message_id: messageId });
  } catch (err) {
    flash($('#room-error'), describeError(err));
  }
}

// ---- forwards ----

function sourceAuthorName(room, f) {
  const entry = findMessage(room, f.source_message_id);
  return entry ? entry.msg.author.display_name : t('console.forwards.theAuthor');
}

/** Record what is now known of a forward and redraw it, and the relayed copies it changes. */
export function upsertForward(app, next, { fromAck = false } = {}) {
  const room = app.room;
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
  renderForward(app, f);
  // Relayed copies show whether a change awaits consent: redraw them.
  for (const id of f.delivered || []) {
    const col = room.columns.get(room.messages.get(id));
    if (col && col.thread.has(id)) col.thread.upsert(col.thread.get(id).msg);
  }
}

/** Redraw the relays of one source message. */
export function refreshForwardsOf(app, messageId) {
  for (const f of app.room.forwards.values()) if (f.source_message_id === messageId) renderForward(app, f);
}

export function renderForward(app, f) {
  renderRelaySummary(app);
  const entry = findMessage(app.room, f.source_message_id);
  if (!entry) return;
  const list = entry.li.querySelector('.forwards');
  if (!list) return;
  const item = forwardItem(app, f);
  const old = list.querySelector(`[data-forward-id="${f.forward_id}"]`);
  if (old) old.replaceWith(item);
  else list.append(item);
  // A thread read at its end stays at its end as its relays grow.
  const col = app.room.columns.get(app.room.messages.get(f.source_message_id));
  if (col && col.thread.stick) col.thread.scrollToEnd();
}

const SUMMARY_ORDER = ['declined', 'awaiting_consent', 'edit_awaiting_consent', 'delivered', 'withdrawn'];

/**
 * Every relay of the room beside the conversation, those needing a look
 * first (declined, then waiting), each with a way to its message's thread.
 */
function renderRelaySummary(app) {
  const room = app.room;
  const forwards = [...room.forwards.values()].sort(
    (a, b) => SUMMARY_ORDER.indexOf(a.status) - SUMMARY_ORDER.indexOf(b.status),
  );
  replace(
    $('#relay-summary'),
    forwards.map((f) => {
      const author = sourceAuthorName(room, f);
      const link = h('button', { type: 'button', class: 'link', testid: 'relay-summary-show' }, `${author} → ${(f.to || []).map((id) => nameOf(room, id)).join(', ')}`);
      link.addEventListener('click', () => showSource(app, f));
      return h('li', { class: 'relay-summary-item', testid: 'relay-summary-item', dataset: { status: f.status } },
        h('span', { class: `pill status-${f.status}`, i18n: statusText(f, author) }), ' ', link);
    }),
  );
  show($('#relays-empty'), forwards.length === 0);
}

/** Open the thread holding a relay's source message and bring the message into view. */
function showSource(app, f) {
  const entry = findMessage(app.room, f.source_message_id);
  if (!entry) return;
  selectThread(app, app.room.messages.get(f.source_message_id));
  entry.li.scrollIntoView({ block: 'center' });
  const item = entry.li.querySelector(`[data-forward-id="${f.forward_id}"]`);
  if (item) {
    item.tabIndex = -1;
    item.focus();
  }
}

function forwardItem(app, f) {
  const author = sourceAuthorName(app.room, f);
  const li = h(
    'li',
    { class: 'forward', testid: 'forward', dataset: { forwardId: f.forward_id, status: f.status, revision: String(f.revision) } },
    h(
      'p',
      { class: 'forward-head' },
      h('span', { class: `pill status-${f.status}`, testid: 'forward-status', i18n: statusText(f, author) }),
      ' ',
      h(
        'span',
        { class: 'hint' },
        h('span', { i18n: ['console.forwards.to', { names: (f.to || []).map((id) => nameOf(app.room, id)).join(', ') }] }),
        f.revision > 1 ? [' · ', h('span', { i18n: ['console.forwards.version', { version: f.revision }] })] : null,
      ),
    ),
    h('blockquote', { class: 'forward-body', testid: 'forward-body' }, f.body),
    f.note ? h('p', { class: 'hint', testid: 'forward-note' }, h('span', { i18n: ['console.forwards.note', { name: author }] }), ' ', f.note) : null,
  );
  const actions = h('div', { class: 'button-row' });
  const waiting = f.status === 'awaiting_consent' || f.status === 'edit_awaiting_consent';
  if (waiting || f.status === 'declined') {
    actions.append(h('button', { type: 'button', class: 'small', testid: 'forward-update', on: { click: () => updateForward(app, f.forward_id) }, i18n: 'console.forwards.update' }));
  }
  if (waiting || f.status === 'declined') {
    const label = f.status === 'edit_awaiting_consent' ? 'console.forwards.withdrawChange' : 'console.forwards.withdraw';
    actions.append(h('button', { type: 'button', class: 'small danger-text', testid: 'forward-withdraw', on: { click: () => withdrawForward(app, f.forward_id) }, i18n: label }));
  }
  if (actions.children.length) li.append(actions);
  return li;
}

function updateForward(app, forwardId) {
  const room = app.room;
  const f = room.forwards.get(forwardId);
  if (!f) return;
  const source = findMessage(room, f.source_message_id);
  const consent = room.info.consent_required;
  openEditor({
    mode: 'update',
    title: ['console.forwards.updateRelayed'],
    sendLabel: [consent ? 'console.forwards.sendUpdateForConsent' : 'console.forwards.sendUpdate'],
    original: source ? { id: source.msg.id, body: source.msg.body } : null,
    initialText: f.body,
    attributionName: room.info.attribution === 'anonymous' ? null : source ? source.msg.author.display_name : null,
    consentNote: consent ? ['console.forwards.askAgain', { name: sourceAuthorName(room, f) }] : null,
    suggest: (id) => suggestFor(app, id),
    ...termOptions(app),
    submit: async ({ body }) => {
      const result = await app.room.conn.request({ type: 'forward_update', forward_id: forwardId, body });
      if (result && result.revision) {
        upsertForward(app, { ...f, revision: result.revision, status: result.status || f.status, body }, { fromAck: true });
      }
    },
  });
}

async function withdrawForward(app, forwardId) {
  try {
    await app.room.conn.request({ type: 'forward_withdraw', forward_id: forwardId });
  } catch (err) {
    flash($('#room-error'), describeError(err));
  }
}
