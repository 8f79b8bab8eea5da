// One conversation thread on screen: an ordered list of messages keyed by
// message id, so a message replayed after a reconnect (or echoed back after
// a local "sending…" placeholder) never appears twice.

import { h, replace, timeEl } from './dom.js';
import { setText } from './i18n.js';

/** "Relayed by the ombud from Ana" (or without a name under anonymous attribution) as `[key, params]`. */
export function relayedLabelKey(relayedFrom) {
  const name = relayedFrom && relayedFrom.display_name;
  return name ? ['thread.relayedFrom', { name }] : ['thread.relayed'];
}

export class Thread {
  /**
   * @param {HTMLElement} list  a <ol>/<ul> holding the messages, inside an element with role="log" (the live region)
   * @param {object} opts
   * @param {() => string} opts.me           the viewer's participant id
   * @param {(author) => string} [opts.authorLabel]
   * @param {(msg, li) => void} [opts.decorate]  add actions (console)
   * @param {HTMLElement} [opts.empty]       shown while the thread has no messages
   */
  constructor(list, opts) {
    this.list = list;
    this.opts = opts;
    this.byId = new Map(); // message id -> {msg, li}
    this.byClientId = new Map(); // client_id -> li (local placeholder)
    this.connected = true; // placeholders read "Sending…" or "Waiting for the connection…"
    // Follow new messages unless the reader has scrolled up to read back.
    this.stick = true;
    const scroller = this.scroller();
    if (scroller) {
      scroller.addEventListener('scroll', () => {
        this.stick = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
      });
    }
  }

  has(id) {
    return this.byId.has(id);
  }

  get(id) {
    return this.byId.get(id);
  }

  get size() {
    return this.byId.size + this.byClientId.size;
  }

  /** Add or replace a message (dedupe by id; replaces a local placeholder with the same client_id). */
  upsert(msg) {
    const existing = this.byId.get(msg.id);
    if (existing) {
      // Same message again (replay, or our own echo): keep the newest state.
      const merged = { ...existing.msg, ...msg, retracted: existing.msg.retracted };
      const follow = this.following();
      const li = this.render(merged);
      existing.li.replaceWith(li);
      this.byId.set(msg.id, { msg: merged, li });
      if (follow) this.scrollToEnd();
      return li;
    }
    const li = this.render(msg);
    // Our own message coming back replaces its "sending…" placeholder, but
    // takes its place in the relay's order (what everyone else saw), so the
    // thread looks the same after a reload.
    const placeholder = msg.client_id ? this.byClientId.get(msg.client_id) : null;
    if (placeholder) {
      placeholder.remove();
      this.byClientId.delete(msg.client_id);
    }
    this.appendItem(li);
    this.byId.set(msg.id, { msg, li });
    return li;
  }

  /** A local "sending…" placeholder until the relay echoes the message back. */
  addPending({ clientId, body, shareable, author }) {
    const li = h(
      'li',
      { class: ['msg', 'mine', 'pending'], testid: 'message', dataset: { clientId, state: this.waitingState() } },
      h('div', { class: 'msg-meta' }, this.authorEl(author), ' ', h('span', { class: 'msg-state', testid: 'message-state', i18n: this.waitingKey() })),
      h('p', { class: 'msg-body', testid: 'message-body' }, body),
      shareable === false ? h('p', { class: 'badge', testid: 'not-shared', i18n: 'thread.doNotShare' }) : null,
    );
    const follow = this.following();
    this.byClientId.set(clientId, li);
    this.list.append(li);
    this.refreshEmpty();
    if (follow) this.scrollToEnd();
    return li;
  }

  /** Mark a placeholder as failed, with a retry button; `reason` is text, or `[key, params]` (api.js `errorMessage`) to follow a language change. */
  failPending(clientId, reason, retry) {
    const li = this.byClientId.get(clientId);
    if (!li) return;
    li.dataset.state = 'failed';
    const state = li.querySelector('.msg-state');
    delete state.dataset.i18n;
    replace(
      state,
      h('span', { i18n: 'thread.notSent' }),
      ' ',
      Array.isArray(reason) ? h('span', { i18n: reason }) : reason,
      ' ',
      h('button', { type: 'button', class: 'link', on: { click: retry }, i18n: 'thread.retry' }),
    );
  }

  markPendingSending(clientId) {
    const li = this.byClientId.get(clientId);
    if (!li) return;
    li.dataset.state = this.waitingState();
    this.showWaiting(li);
  }

  /** The connection came or went: placeholders not yet failed say which. */
  setConnected(connected) {
    if (this.connected === connected) return;
    this.connected = connected;
    for (const li of this.byClientId.values()) {
      if (li.dataset.state === 'failed') continue;
      li.dataset.state = this.waitingState();
      this.showWaiting(li);
    }
  }

  showWaiting(li) {
    const state = li.querySelector('.msg-state');
    replace(state);
    setText(state, this.waitingKey());
  }

  waitingState() {
    return this.connected ? 'sending' : 'queued';
  }

  waitingKey() {
    return this.connected ? 'thread.sending' : 'thread.queued';
  }

  edit(messageId, body, editedAt) {
    const entry = this.byId.get(messageId);
    if (!entry) return false;
    this.upsert({ ...entry.msg, body, edited_at: editedAt });
    return true;
  }

  retract(messageId) {
    const entry = this.byId.get(messageId);
    if (!entry) return false;
    const msg = { ...entry.msg, retracted: true };
    const li = this.render(msg);
    entry.li.replaceWith(li);
    this.byId.set(messageId, { msg, li });
    return true;
  }

  /**
   * Append an item from the relay (message, consent card, notice line) in
   * timeline order: after everything confirmed, before local placeholders.
   */
  appendItem(li) {
    const follow = this.following();
    const firstPending = this.list.querySelector(':scope > .pending');
    this.list.insertBefore(li, firstPending);
    this.refreshEmpty();
    if (follow) this.scrollToEnd();
  }

  refreshEmpty() {
    if (this.opts.empty) this.opts.empty.hidden = this.list.children.length > 0;
  }

  /**
   * Should a new item bring the thread's end into view? In a scroll box
   * (the console): unless the reader scrolled up. On a page that scrolls as
   * a whole (the party page): only if the thread's last item is on screen
   * now, so someone reading back, or reading the notice, is left alone.
   */
  following() {
    if (this.scroller()) return this.stick;
    const last = this.list.lastElementChild;
    if (!last) return false;
    const box = last.getBoundingClientRect();
    return box.top < window.innerHeight && box.bottom > 0;
  }

  scrollToEnd() {
    const scroller = this.scroller();
    if (scroller) scroller.scrollTop = scroller.scrollHeight;
    else if (this.list.lastElementChild) this.list.lastElementChild.scrollIntoView({ block: 'nearest' });
  }

  scroller() {
    return this.list.closest('.scroll') || null;
  }

  label(author) {
    if (this.opts.authorLabel) return this.opts.authorLabel(author);
    return author.display_name;
  }

  /**
   * The author's name. `authorLabel` may answer `[key, params]` (the party
   * page's "You") so the name follows a language change.
   */
  authorEl(author) {
    const label = this.label(author);
    return Array.isArray(label)
      ? h('span', { class: 'msg-author', testid: 'message-author', i18n: label })
      : h('span', { class: 'msg-author', testid: 'message-author' }, label);
  }

  render(msg) {
    const mine = msg.author && msg.author.id === this.opts.me();
    const li = h('li', {
      class: ['msg', mine && 'mine', msg.relayed_from && 'relayed', msg.retracted && 'retracted', msg.author && `role-${msg.author.role}`],
      testid: 'message',
      dataset: { messageId: msg.id, channel: msg.channel },
    });
    const meta = h(
      'div',
      { class: 'msg-meta' },
      this.authorEl(msg.author),
      ' ',
      timeEl(msg.sent_at),
      msg.edited_at && !msg.retracted ? h('span', { class: 'msg-edited', testid: 'edited' }, ' · ', h('span', { i18n: 'thread.edited' })) : null,
      // The relay stored it: that is what "Sent" promises, nothing more.
      mine && !msg.retracted ? h('span', { class: 'msg-state', testid: 'message-state', i18n: 'thread.sent' }) : null,
    );
    if (mine) li.dataset.state = 'sent';
    li.append(meta);
    if (msg.relayed_from) {
      li.append(h('p', { class: 'relayed-label', testid: 'relayed-label', i18n: relayedLabelKey(msg.relayed_from) }));
    }
    if (msg.comment_on) {
      const on = msg.comment_on;
      li.append(h('p', {
        class: 'relayed-label',
        testid: 'comment-on',
        i18n: on.clause ? ['thread.commentOnClause', { version: on.version, clause: on.clause }] : ['thread.commentOn', { version: on.version }],
      }));
    }
    if (msg.retracted) {
      li.append(h('p', { class: 'msg-body retracted-note', testid: 'message-retracted', i18n: 'thread.withdrawn' }));
    } else {
      if (msg.body) li.append(h('p', { class: 'msg-body', testid: 'message-body' }, msg.body));
      if (msg.resource) li.append(resourceCard(msg.resource));
    }
    if (msg.shareable === false) {
      li.append(h('p', { class: 'badge', testid: 'not-shared', i18n: 'thread.doNotShare' }));
    }
    if (this.opts.decorate) this.opts.decorate(msg, li);
    return li;
  }
}

/** A referral resource as a card with its link. */
export function resourceCard(resource) {
  const safeUrl = /^https?:\/\//i.test(resource.url) ? resource.url : null;
  return h(
    'div',
    { class: 'resource-card', testid: 'resource-card' },
    h('p', { class: 'resource-kicker', i18n: 'thread.resource' }),
    h('h4', { class: 'resource-title' }, resource.title),
    resource.description ? h('p', {}, resource.description) : null,
    safeUrl
      ? h('a', { href: safeUrl, target: '_blank', rel: 'noopener noreferrer', testid: 'resource-link' }, safeUrl)
      : h('p', {}, resource.url),
  );
}
