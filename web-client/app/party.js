// The party's page (`/join#<invite code>`, or a visitor's return link
// `/join#return.<token>`): exchanges the code for a token,
// keeps it in sessionStorage (so a reload shows the same thread, rebuilt from
// the relay's replay) or, if the party opts in, in localStorage until the
// room expires (so closing the browser does not lock it out), shows the
// office notice, the private thread with the ombud, the joint thread while
// it is open, and consent requests. A party whose session or link is gone
// is told what to do: ask the ombud for a new link. The page speaks the
// party's language (i18n.js): chosen on the page, else the browser's.

import { api, errorMessage } from './api.js';
import { $, h, replace, show, paragraphs, confirmDialog, downloadBlob, randomId, wireLanguage } from './dom.js';
import { t, setText, currentLanguage } from './i18n.js';
import { Connection, statusReporter } from './ws.js';
import { Thread } from './thread.js';
import { typingNotifier, typingIndicator } from './typing.js';
import { createOneText } from './party-onetext.js';
import { obtainSession, keptSession, saveSession, forgetSession } from './party-session.js';

const state = {
  session: null, // {token, room_id, party_id, code}
  me: null,
  room: null,
  conn: null,
  noticePending: false,
  jointOpen: false,
  consent: new Map(), // forward_id -> {revision, li, state, source}
  ended: false,
  notice: null, // the welcome's notice, kept to show it again in another language
};

const privateThread = new Thread($('#private-messages'), {
  me: () => state.me,
  authorLabel,
  empty: $('#private-empty'),
});
const jointThread = new Thread($('#joint-messages'), { me: () => state.me, authorLabel });

/** A name as `[key, params]` where the page words it, so it follows a language change. */
function authorLabel(author) {
  if (!author) return '';
  if (author.id === state.me) return ['party.you'];
  if (author.role === 'ombud') return ['party.ombudName', { name: author.display_name }];
  return author.display_name;
}

/** Show `[key, params]` in an error or status element (they start hidden). */
function flashText(el, message) {
  setText(el, ...message);
  show(el, true);
}

/** Something passing went wrong (the relay was unreachable): offer to try again. */
function showProblem(err) {
  show($('#loading'), false);
  show($('#conversation'), false);
  show($('#notice'), false);
  setText($('#problem-text'), ...errorMessage(err));
  show($('#problem'), true);
}

/** The page for a session or link that is gone; the stored session goes too. */
function showDeadEnd(kind) {
  forgetSession();
  endConversation([`party.deadEnd.${kind}.title`], [`party.deadEnd.${kind}.text`], kind);
}

/** The end page; `title` and `text` are `[key, params]`. */
function endConversation(title, text, kind = 'ended') {
  state.ended = true;
  if (state.conn) state.conn.stop();
  show($('#loading'), false);
  show($('#conversation'), false);
  show($('#notice'), false);
  $('#conn-status').hidden = true;
  setText($('#ended-title'), ...title);
  setText($('#ended-text'), ...text);
  $('#ended').dataset.kind = kind;
  show($('#ended'), true);
}

/** Close codes after which this session can never work again, and why. */
const DEAD_CLOSES = { 4001: 'expired', 4003: 'left', 4004: 'closed', 4009: 'closed', 4010: 'replaced' };

// ---- the connection ----

function connect() {
  const reportStatus = statusReporter($('#conn-status'));
  state.conn = new Connection({
    token: state.session.token,
    room: state.session.room_id,
    since: null, // a fresh page rebuilds the whole thread from the replay
    onWelcome,
    onEvent,
    onStatus(status) {
      reportStatus(status);
      $('#conversation').classList.toggle('offline', status.state !== 'online');
      const connected = status.state === 'online';
      privateThread.setConnected(connected);
      jointThread.setConnected(connected);
      if (status.state === 'closed' && status.code && !state.ended) {
        // The token will never work again: forget it, and say what to do.
        const kind = DEAD_CLOSES[status.code];
        if (kind) showDeadEnd(kind);
        else endConversation(['party.ended.unavailable'], [status.key, status.params]);
      }
    },
    onError(err) {
      flashText($('#actions-error'), errorMessage(err));
    },
    onEphemeral,
  });
  state.conn.start();
}

function onWelcome(welcome) {
  state.me = welcome.participant.id;
  state.room = welcome.room;
  $('#room-title').textContent = welcome.room.title;
  setJoint(Boolean(welcome.room.joint_open));
  show($('#loading'), false);
  show($('#conversation'), true);
  if (welcome.notice) {
    state.noticePending = true;
    state.notice = welcome.notice;
    $('#notice-office').textContent = welcome.notice.office_name;
    showNoticeText();
    show($('#notice'), true);
    lockComposers();
    $('#notice-ack').focus();
  } else {
    acknowledged();
  }
}

function onEvent(seq, event, { replay }) {
  switch (event.kind) {
    case 'message':
      if (event.author && event.author.id !== state.me) names.set(event.author.id, event.author.display_name);
      // Their message is here, so they are no longer typing it.
      if (event.author) typing[event.channel === 'joint' ? 'joint' : 'private'].clear(event.author.id);
      if (event.channel === 'joint') {
        jointThread.upsert(event);
        show($('#joint-panel'), true);
      } else {
        privateThread.upsert(event);
      }
      break;
    case 'message_edited':
      threadFor(event.channel).edit(event.message_id, event.body, event.edited_at);
      break;
    case 'message_retracted':
      threadFor(event.channel).retract(event.message_id);
      for (const card of state.consent.values()) {
        if (card.source === event.message_id && card.state === 'pending') setCardState(card, 'withdrawn');
      }
      break;
    case 'consent_requested':
      consentRequested(event, replay);
      break;
    case 'consent_decided': {
      const card = state.consent.get(event.forward_id);
      if (card && card.revision === event.revision) setCardState(card, event.decision === 'approve' ? 'approved' : 'declined');
      break;
    }
    case 'forward_status': {
      // A request still open here that the relay reports as settled without
      // our decision was withdrawn by the ombud (a withdrawn change leaves
      // the earlier version delivered).
      const card = state.consent.get(event.forward_id);
      if (card && card.state === 'pending' && (event.status === 'withdrawn' || event.status === 'delivered')) {
        setCardState(card, 'withdrawn');
      }
      break;
    }
    case 'notice_acknowledged':
      if (event.participant_id === state.me) acknowledged();
      break;
    case 'joint_opened':
      setJoint(true);
      break;
    case 'joint_closed':
      setJoint(false);
      break;
    case 'room_closed':
      showDeadEnd('closed');
      break;
    default:
      oneText.onEvent(event);
      break;
  }
}

const oneText = createOneText({ conn: () => state.conn, token: () => state.session.token });

// ---- typing ----

const names = new Map(); // participant id -> display name, from messages seen
const sendTyping = typingNotifier(() => state.conn);
const typing = {
  private: typingIndicator($('#private-typing'), (id) => names.get(id) || t('party.theOmbud')),
  joint: typingIndicator($('#joint-typing'), (id) => names.get(id) || t('party.someone')),
};

function onEphemeral(frame) {
  if (frame.type !== 'typing' || frame.participant_id === state.me) return;
  typing[frame.channel === 'joint' ? 'joint' : 'private'](frame.participant_id);
}

function threadFor(channel) {
  return channel === 'joint' ? jointThread : privateThread;
}

// ---- notice ----

/**
 * The office's notice in the page's language, if the settings give it
 * (`[languages.<tag>]`), else its default text, whose language the page
 * cannot know (so it carries no `lang` of its own then).
 */
function showNoticeText() {
  const notice = state.notice;
  if (!notice) return;
  const translations = notice.translations || {};
  const lang = currentLanguage();
  const tag = lang in translations ? lang : lang.split('-')[0] in translations ? lang.split('-')[0] : null;
  const el = $('#notice-text');
  if (tag) el.lang = tag;
  else el.removeAttribute('lang');
  replace(el, paragraphs(tag ? translations[tag] : notice.text));
}

function lockComposers() {
  $('#private-fieldset').disabled = true;
  $('#joint-fieldset').disabled = true;
  show($('#private-locked'), true);
}

function acknowledged() {
  state.noticePending = false;
  show($('#notice'), false);
  show($('#private-locked'), false);
  $('#private-fieldset').disabled = false;
  $('#joint-fieldset').disabled = !state.jointOpen;
}

$('#notice-ack').addEventListener('click', async () => {
  const button = $('#notice-ack');
  button.disabled = true;
  show($('#notice-error'), false);
  try {
    await state.conn.request({ type: 'acknowledge_notice' });
    acknowledged();
    $('#private-input').focus();
  } catch (err) {
    flashText($('#notice-error'), errorMessage(err));
  } finally {
    button.disabled = false;
  }
});

// ---- joint session ----

function setJoint(open) {
  state.jointOpen = open;
  const panel = $('#joint-panel');
  if (open) show(panel, true);
  else if (jointThread.size === 0) show(panel, false);
  panel.classList.toggle('closed', !open);
  setText($('#joint-state'), open ? 'party.joint.open' : 'party.joint.closed');
  show($('#joint-composer'), open);
  $('#joint-fieldset').disabled = !open || state.noticePending;
}

// ---- composing ----

function wireComposer(form, input, channel, thread, noShare) {
  const submit = (ev) => {
    ev.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    const shareable = noShare ? !noShare.checked : true;
    send(thread, channel(), body, shareable, randomId());
    input.value = '';
    if (noShare) noShare.checked = false;
    input.focus();
  };
  form.addEventListener('submit', submit);
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) submit(ev);
  });
  input.addEventListener('input', () => sendTyping(channel()));
}

function send(thread, channel, body, shareable, clientId) {
  if (!thread.byClientId.has(clientId)) {
    thread.addPending({ clientId, body, shareable, author: { id: state.me, role: 'party', display_name: '' } });
  } else {
    thread.markPendingSending(clientId);
  }
  state.conn
    .request({ type: 'send', channel, body, client_id: clientId, shareable }, { retry: true })
    .then((result) => {
      // The message event normally arrives first; the ack may carry it too.
      const msg = result && (result.message || (result.id && result.body !== undefined ? result : null));
      if (msg && msg.id) thread.upsert({ ...msg, client_id: clientId });
    })
    .catch((err) => {
      thread.failPending(clientId, errorMessage(err), () => send(thread, channel, body, shareable, clientId));
    });
}

// On a touch screen there is no Ctrl key to press: drop the hint (and the
// description pointing at it) rather than tell people to do the impossible.
if (window.matchMedia('(pointer: coarse)').matches) {
  $('#private-hint').remove();
  $('#private-input').removeAttribute('aria-describedby');
}

wireComposer($('#private-composer'), $('#private-input'), () => `private:${state.me}`, privateThread, $('#private-noshare'));
wireComposer($('#joint-composer'), $('#joint-input'), () => 'joint', jointThread, null);

// ---- consent requests ----

function consentRequested(event, replay) {
  const existing = state.consent.get(event.forward_id);
  if (existing && existing.revision > event.revision) return;
  const card = { revision: event.revision, state: 'pending', source: event.source_message_id, li: null, event };
  const li = renderCard(card);
  if (existing) {
    existing.li.remove();
    // A newer revision replaces the old card, at the end where it is noticed.
  }
  card.li = li;
  state.consent.set(event.forward_id, card);
  privateThread.appendItem(li);
  if (!replay) li.querySelector('[data-testid="consent-approve"]').focus({ preventScroll: true });
}

function renderCard(card) {
  const ev = card.event;
  const titleId = `consent-${ev.forward_id}-${ev.revision}`;
  const names = ev.to_names && ev.to_names.length
    ? h('strong', { testid: 'consent-to' }, ev.to_names.join(', '))
    : h('strong', { testid: 'consent-to', i18n: 'party.consent.otherParty' });
  const note = h('input', { type: 'text', id: `${titleId}-note`, maxlength: 2000, testid: 'consent-note' });
  const approve = h('button', { type: 'button', class: 'primary', testid: 'consent-approve', i18n: 'party.consent.approve' });
  const decline = h('button', { type: 'button', class: 'secondary', testid: 'consent-decline', i18n: 'party.consent.decline' });
  const outcome = h('p', { class: 'consent-outcome', role: 'status', testid: 'consent-outcome' });
  const li = h(
    'li',
    {
      class: 'consent-card',
      testid: 'consent-card',
      'aria-labelledby': titleId,
      dataset: { forwardId: ev.forward_id, revision: String(ev.revision), state: 'pending' },
    },
    h('h3', { id: titleId, i18n: ev.is_edit ? 'party.consent.editTitle' : 'party.consent.askTitle' }),
    h('p', {}, h('span', { i18n: 'party.consent.to' }), ' ', names),
    h('p', { i18n: ev.is_edit ? 'party.consent.editExactly' : 'party.consent.exactly' }),
    h('blockquote', { class: 'consent-body', testid: 'consent-body' }, ev.body),
    h('p', { class: 'hint decision', i18n: 'party.consent.nothingUnless' }),
    h('div', { class: 'field decision' }, h('label', { for: `${titleId}-note`, i18n: 'party.consent.note' }), note),
    h('div', { class: 'button-row decision' }, approve, decline),
    outcome,
  );
  const decide = async (decision) => {
    approve.disabled = true;
    decline.disabled = true;
    const frame = { type: 'consent', forward_id: ev.forward_id, revision: ev.revision, decision };
    if (note.value.trim()) frame.note = note.value.trim();
    try {
      await state.conn.request(frame);
      if (card.state === 'pending') setCardState(card, decision === 'approve' ? 'approved' : 'declined');
    } catch (err) {
      if (err.code === 'conflict') {
        setCardState(card, 'superseded');
      } else {
        setText(outcome, ...errorMessage(err));
        approve.disabled = false;
        decline.disabled = false;
      }
    }
  };
  approve.addEventListener('click', () => decide('approve'));
  decline.addEventListener('click', () => decide('decline'));
  return li;
}

/** What a card says once settled: `party.consent.<state>` (`_edit` for a change to a relayed message). */
const CARD_OUTCOMES = new Set(['approved', 'declined', 'declined_edit', 'withdrawn', 'withdrawn_edit', 'superseded']);

function setCardState(card, newState) {
  card.state = newState;
  if (!card.li) return;
  card.li.dataset.state = newState;
  const hadFocus = card.li.contains(document.activeElement);
  for (const el of card.li.querySelectorAll('button, input')) el.disabled = true;
  for (const el of card.li.querySelectorAll('.decision')) el.hidden = true;
  const key = card.event.is_edit && (newState === 'declined' || newState === 'withdrawn') ? `${newState}_edit` : newState;
  const outcome = card.li.querySelector('[data-testid="consent-outcome"]');
  if (CARD_OUTCOMES.has(key)) setText(outcome, `party.consent.${key}`);
  if (hadFocus) {
    outcome.tabIndex = -1;
    outcome.focus({ preventScroll: true });
  }
}

// ---- transcript and leaving ----

async function downloadTranscript(format) {
  show($('#actions-error'), false);
  try {
    const res = await api('GET', `/api/transcript?format=${format}`, { token: state.session.token, raw: true });
    const blob = await res.blob();
    downloadBlob(blob, `caucus-transcript.${format === 'txt' ? 'txt' : 'html'}`);
  } catch (err) {
    flashText($('#actions-error'), errorMessage(err));
  }
}

$('#transcript-html').addEventListener('click', () => downloadTranscript('html'));
$('#transcript-txt').addEventListener('click', () => downloadTranscript('txt'));

$('#leave').addEventListener('click', async () => {
  const ok = await confirmDialog({
    title: t('party.leave.dialogTitle'),
    body: [t('party.leave.dialogFinal'), t('party.leave.dialogCopy')],
    confirmLabel: t('party.leave.dialogConfirm'),
    cancelLabel: t('party.leave.dialogCancel'),
    danger: true,
    testid: 'leave-dialog',
  });
  if (!ok) return;
  try {
    await state.conn.request({ type: 'leave' });
  } catch (err) {
    flashText($('#actions-error'), errorMessage(err));
    return;
  }
  forgetSession();
  endConversation(['party.leave.doneTitle'], ['party.leave.doneText'], 'left');
});

// ---- keeping the session on this device ----

$('#problem-retry').addEventListener('click', () => location.reload());

function showKept(kept) {
  $('#keep-signed-in').checked = kept;
  show($('#sign-out'), kept);
}

$('#keep-signed-in').addEventListener('change', () => {
  const keep = $('#keep-signed-in').checked;
  saveSession(state.session, keep);
  showKept(keep);
});

$('#sign-out').addEventListener('click', async () => {
  const ok = await confirmDialog({
    title: t('party.keep.dialogTitle'),
    body: [t('party.keep.dialogForget'), t('party.keep.dialogReturn')],
    confirmLabel: t('party.keep.dialogConfirm'),
    cancelLabel: t('party.keep.dialogCancel'),
    testid: 'sign-out-dialog',
  });
  if (!ok) return;
  showDeadEnd('signed_out');
});

// ---- language ----

// ---- start ----

(async () => {
  await wireLanguage($('#language'), showNoticeText);
  try {
    state.session = await obtainSession();
  } catch (err) {
    if (err.deadEnd) showDeadEnd(err.deadEnd);
    else showProblem(err);
    $('#conn-status').hidden = true;
    return;
  }
  state.me = state.session.party_id;
  showKept(Boolean(keptSession()));
  connect();
})();

