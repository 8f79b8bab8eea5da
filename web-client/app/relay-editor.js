// The relay editor: the ombud turns a party's message into the exact text
// another party will see. It is a pane beside the conversation, not a dialog
// over it, so the thread and the original stay in view while the ombud
// edits (side by side on a wide screen, stacked below on a narrow one).
// Opening it moves the focus to the draft; Cancel, Escape or sending closes
// it and gives the focus back to the button that opened it.
//
// Redactions are visible marks (█████) in the draft;
// the preview shows the draft verbatim, and what is sent is the draft, so the
// preview is exactly what the recipient receives. Suggested redactions are
// UTF-16 spans into the ORIGINAL message: the room's sensitive terms, found
// here as soon as the editor opens, and the relay's suggestions (names,
// addresses, numbers, terms) on request. They are listed, and applied only
// when the ombud picks one or all of them. A selection can become a room term.

import { $, h, replace, show, say } from './dom.js';
import { t, setText, onLanguageChange } from './i18n.js';
import { describeError } from './api.js';
import { relayedLabelKey } from './thread.js';

export const REDACTION = '█████';

/** The kinds of suggestion with a name (`console.relayEditor.kinds.*`); others are "suggestion". */
const KINDS = new Set(['email', 'phone', 'url', 'name', 'term']);
const kindKey = (kind) => `console.relayEditor.kinds.${KINDS.has(kind) ? kind : 'suggestion'}`;
const E = (key, params) => [`console.relayEditor.${key}`, params];

const pane = $('#relay-pane');
const form = $('#relay-form');
const text = $('#relay-text');
const preview = $('#relay-preview');
const previewLabel = $('#relay-preview-label');
const errorEl = $('#relay-error');
const suggestStatus = $('#suggest-status');
const originalEl = $('#relay-original');

let current = null;
// Where the focus was when the editor opened: it goes back there on closing.
let opener = null;

/**
 * Open the editor.
 * @param {object} o
 * @param {'forward'|'update'|'edit'} o.mode
 * @param {[string, object?]} o.title                     `[key, params]`, like every text below
 * @param {[string, object?]} o.sendLabel
 * @param {{id: string, body: string}|null} o.original   the source message (for suggestions)
 * @param {string} o.initialText
 * @param {Array<{id, name, checked}>} [o.recipients]      forward mode only
 * @param {string|null} o.attributionName                  shown in the preview label; null = anonymous
 * @param {[string, object?]|null} o.consentNote
 * @param {(messageId: string) => Promise<Array>} o.suggest
 * @param {() => string[]} [o.terms]                       the room's sensitive terms
 * @param {(term: string) => Promise<void>} [o.addTerm]    add one to the room's terms
 * @param {(draft: {body: string, to: string[]}) => Promise<void>} o.submit
 */
export function openEditor(o) {
  current = { ...o, spans: [], applied: new Set() };
  opener = document.activeElement;
  say($('#relay-title'), o.title);
  say($('#relay-send'), o.sendLabel);
  say($('#relay-consent-note'), o.consentNote || '');
  show(errorEl, false);
  say(suggestStatus, '');

  show($('#relay-original-section'), Boolean(o.original));
  show($('#add-term'), Boolean(o.addTerm));

  const boxes = $('#relay-recipient-boxes');
  replace(boxes);
  const recipients = o.recipients || [];
  show($('#relay-recipients'), o.mode === 'forward');
  if (o.mode === 'forward' && recipients.length === 0) {
    boxes.append(h('p', { class: 'hint', i18n: 'console.relayEditor.noOtherParty' }));
  }
  for (const r of recipients) {
    boxes.append(
      h('label', { class: 'check' },
        h('input', { type: 'checkbox', name: 'to', value: r.id, checked: r.checked, testid: 'relay-recipient', 'data-name': r.name }),
        ` ${r.name}`),
    );
  }

  setText(previewLabel, ...relayedLabelKey(o.attributionName ? { display_name: o.attributionName } : null));
  text.value = o.initialText;
  if (o.original) renderSuggestions();
  updatePreview();
  $('#relay-send').disabled = false;
  show(pane, true);
  text.focus();
  text.setSelectionRange(0, 0);
}

/**
 * Close the editor without sending. The focus goes back where it was when
 * the editor opened, unless `restoreFocus` is false (the room is closing).
 */
export function closeEditor({ restoreFocus = true } = {}) {
  const wasOpen = !pane.hidden;
  current = null;
  show(pane, false);
  if (wasOpen && restoreFocus && opener && opener.isConnected) opener.focus();
  opener = null;
}

function updatePreview() {
  preview.textContent = text.value;
}

text.addEventListener('input', updatePreview);

// The suggestions carry words around the message's own: drawn again in a new language.
onLanguageChange(() => {
  if (current && current.original) renderSuggestions();
});

function redactRange(start, end) {
  const value = text.value;
  text.value = value.slice(0, start) + REDACTION + value.slice(end);
  const caret = start + REDACTION.length;
  text.focus();
  text.setSelectionRange(caret, caret);
  updatePreview();
}

$('#redact-selection').addEventListener('click', () => {
  const { selectionStart: start, selectionEnd: end } = text;
  if (start === end) {
    say(suggestStatus, E('selectFirst'));
    text.focus();
    return;
  }
  redactRange(start, end);
  say(suggestStatus, E('redacted'));
});

// ---- suggestions ----

$('#suggest-redactions').addEventListener('click', async () => {
  if (!current || !current.original) return;
  const button = $('#suggest-redactions');
  button.disabled = true;
  say(suggestStatus, E('looking'));
  try {
    const spans = await current.suggest(current.original.id);
    current.spans = spans;
    const shown = renderSuggestions();
    say(suggestStatus, shown ? E('suggestions', { count: shown }) : E('noSuggestions'));
  } catch (err) {
    say(suggestStatus, describeError(err));
  } finally {
    button.disabled = false;
  }
});

/** Where the room's terms occur in `body` (as the relay's matcher: any case). */
function termSpans(body, terms) {
  const lower = body.toLowerCase();
  const spans = [];
  for (const term of terms) {
    const t = term.toLowerCase();
    // Lower-casing can change a string's length; such a term is left to the relay.
    if (!t || t.length !== term.length || lower.length !== body.length) continue;
    for (let i = lower.indexOf(t); i !== -1; i = lower.indexOf(t, i + t.length)) {
      spans.push({ start: i, end: i + t.length, kind: 'term' });
    }
  }
  return spans;
}

const spanKey = (s) => `${s.start}-${s.end}`;

/**
 * Draw the original with each suggestion (the room's terms, and the relay's
 * spans once asked for) highlighted, and list them with a Redact button
 * each. Returns how many are shown.
 */
function renderSuggestions() {
  const body = current.original.body;
  const terms = current.terms ? current.terms() : [];
  const seen = new Set();
  const spans = [...current.spans, ...termSpans(body, terms)]
    .filter((s) => Number.isInteger(s.start) && Number.isInteger(s.end) && s.start < s.end && s.end <= body.length)
    .filter((s) => !seen.has(spanKey(s)) && seen.add(spanKey(s)))
    .sort((a, b) => a.start - b.start || b.end - a.end);
  const parts = [];
  const items = [];
  let at = 0;
  for (const span of spans) {
    if (span.start < at) continue; // overlapping: keep the first
    if (span.start > at) parts.push(body.slice(at, span.start));
    const piece = body.slice(span.start, span.end);
    const kind = t(kindKey(span.kind));
    const applied = current.applied.has(spanKey(span));
    const inline = h(
      'button',
      {
        type: 'button',
        class: ['suggestion', applied && 'applied'],
        testid: 'suggestion',
        'aria-pressed': String(applied),
        title: t('console.relayEditor.suggested', { kind }),
        dataset: { kind: span.kind, start: String(span.start), end: String(span.end) },
      },
      h('span', { class: 'visually-hidden' }, `${t('console.relayEditor.redactKind', { kind })} `),
      h('mark', { testid: 'suggestion-text' }, piece),
    );
    inline.addEventListener('click', () => applySuggestion(span));
    parts.push(inline);
    const apply = h('button', {
      type: 'button',
      class: 'small',
      testid: 'suggestion-apply',
      disabled: applied,
      'aria-label': t('console.relayEditor.redactLabel', { kind, text: piece }),
    }, t(applied ? 'console.relayEditor.redactedButton' : 'console.relayEditor.redact'));
    apply.addEventListener('click', () => applySuggestion(span));
    items.push(
      h('li', { class: 'suggestion-item', testid: 'suggestion-item', dataset: { kind: span.kind, key: spanKey(span), applied: String(applied) } },
        h('mark', {}, piece), ' ', h('span', { class: 'hint' }, kind), ' ', apply),
    );
    at = span.end;
  }
  parts.push(body.slice(at));
  replace(originalEl, parts);
  replace($('#suggestion-list'), items);
  show($('#suggestions'), items.length > 0);
  $('#redact-all').disabled = items.every((li) => li.dataset.applied === 'true');
  const found = spans.filter((s) => s.kind === 'term').length;
  $('#relay-terms-hint').textContent = terms.length
    ? `${t('console.relayEditor.termsFlagged', { count: terms.length })} ${found ? t('console.relayEditor.termsHere', { count: found }) : t('console.relayEditor.termsNone')}`
    : t('console.relayEditor.noTerms');
  return items.length;
}

/**
 * Redact the suggested text in the draft. The span is an offset into the
 * original, but the draft may have been edited since: find the same
 * occurrence of that text (the n-th one, as in the original) in the draft.
 * Returns whether it was found.
 */
function redactSpan(span) {
  const body = current.original.body;
  const piece = body.slice(span.start, span.end);
  current.applied.add(spanKey(span));
  let nth = 0;
  for (let i = body.indexOf(piece); i !== -1 && i < span.start; i = body.indexOf(piece, i + 1)) nth += 1;
  const draft = text.value;
  const positions = [];
  for (let i = draft.indexOf(piece); i !== -1; i = draft.indexOf(piece, i + 1)) positions.push(i);
  if (positions.length === 0) return false;
  const at = positions[Math.min(nth, positions.length - 1)];
  redactRange(at, at + piece.length);
  return true;
}

function applySuggestion(span) {
  const found = redactSpan(span);
  renderSuggestions();
  say(suggestStatus, found ? E('redactedInText') : E('gone'));
}

$('#redact-all').addEventListener('click', () => {
  if (!current || !current.original) return;
  let n = 0;
  for (const li of $('#suggestion-list').querySelectorAll('li[data-applied="false"]')) {
    const [start, end] = li.dataset.key.split('-').map(Number);
    if (redactSpan({ start, end })) n += 1;
  }
  renderSuggestions();
  say(suggestStatus, E('redactedAll', { count: n }));
  text.focus();
});

/** The words the ombud selected: in the original if any there, else in the draft. */
function selectedWords() {
  const sel = window.getSelection();
  if (sel && !sel.isCollapsed && originalEl.contains(sel.anchorNode) && originalEl.contains(sel.focusNode)) {
    return sel.toString();
  }
  return text.value.slice(text.selectionStart, text.selectionEnd);
}

$('#add-term').addEventListener('click', async () => {
  if (!current || !current.addTerm) return;
  const term = selectedWords().replace(/\s+/g, ' ').trim();
  if (!term || term.includes(REDACTION)) {
    say(suggestStatus, E('selectTerm'));
    return;
  }
  if (term.length > 200) {
    say(suggestStatus, E('termTooLong'));
    return;
  }
  const known = (current.terms ? current.terms() : []).some((t) => t.toLowerCase() === term.toLowerCase());
  if (known) {
    say(suggestStatus, E('termKnown', { term }));
    return;
  }
  const button = $('#add-term');
  button.disabled = true;
  try {
    await current.addTerm(term);
    if (!current) return;
    if (current.original) renderSuggestions();
    say(suggestStatus, E('termAdded', { term }));
  } catch (err) {
    say(suggestStatus, describeError(err));
  } finally {
    button.disabled = false;
  }
});

// ---- sending ----

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (!current) return;
  const body = text.value;
  const to = [...form.querySelectorAll('input[name="to"]:checked')].map((i) => i.value);
  if (!body.trim()) {
    showError(E('empty'));
    return;
  }
  if (current.mode === 'forward' && to.length === 0) {
    showError(E('choose'));
    return;
  }
  const send = $('#relay-send');
  send.disabled = true;
  show(errorEl, false);
  try {
    await current.submit({ body, to });
    closeEditor();
  } catch (err) {
    showError(describeError(err));
  } finally {
    send.disabled = false;
  }
});

$('#relay-cancel').addEventListener('click', () => closeEditor());

// Escape anywhere in the pane closes it, as it closed the dialog this pane replaced.
pane.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && !ev.defaultPrevented) {
    ev.preventDefault();
    closeEditor();
  }
});

/** `[key, params]` or a relay's error, already translated. */
function showError(message) {
  say(errorEl, message);
  show(errorEl, true);
}
