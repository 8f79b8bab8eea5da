// The relay editor: the ombud turns a party's message into the exact text
// another party will see. Redactions are visible marks (█████) in the draft;
// the preview shows the draft verbatim, and what is sent is the draft, so the
// preview is exactly what the recipient receives. Suggested redactions come
// from the relay as UTF-16 spans into the ORIGINAL message and are applied
// only when the ombud clicks one.

import { $, h, replace, show } from './dom.js';
import { describeError } from './api.js';
import { relayedLabel } from './thread.js';

export const REDACTION = '█████';

const KIND_LABELS = {
  email: 'e-mail address',
  phone: 'phone number',
  url: 'web address',
  name: 'name',
  term: 'sensitive term',
};

const dialog = $('#relay-dialog');
const form = $('#relay-form');
const text = $('#relay-text');
const preview = $('#relay-preview');
const previewLabel = $('#relay-preview-label');
const errorEl = $('#relay-error');
const suggestStatus = $('#suggest-status');
const originalEl = $('#relay-original');

let current = null;

/**
 * Open the editor.
 * @param {object} o
 * @param {'forward'|'update'|'edit'} o.mode
 * @param {string} o.title
 * @param {string} o.sendLabel
 * @param {{id: string, body: string}|null} o.original   the source message (for suggestions)
 * @param {string} o.initialText
 * @param {Array<{id, name, checked}>} [o.recipients]      forward mode only
 * @param {string|null} o.attributionName                  shown in the preview label; null = anonymous
 * @param {string} o.consentNote
 * @param {(messageId: string) => Promise<Array>} o.suggest
 * @param {(draft: {body: string, to: string[]}) => Promise<void>} o.submit
 */
export function openEditor(o) {
  current = { ...o, spans: [] };
  $('#relay-title').textContent = o.title;
  $('#relay-send').textContent = o.sendLabel;
  $('#relay-consent-note').textContent = o.consentNote || '';
  show(errorEl, false);
  suggestStatus.textContent = '';

  show($('#relay-original-section'), Boolean(o.original));
  if (o.original) replace(originalEl, o.original.body);

  const boxes = $('#relay-recipient-boxes');
  replace(boxes);
  const recipients = o.recipients || [];
  show($('#relay-recipients'), o.mode === 'forward');
  if (o.mode === 'forward' && recipients.length === 0) {
    boxes.append(h('p', { class: 'hint' }, 'There is no other party to relay to yet. Invite one first.'));
  }
  for (const r of recipients) {
    boxes.append(
      h('label', { class: 'check' },
        h('input', { type: 'checkbox', name: 'to', value: r.id, checked: r.checked, testid: 'relay-recipient', 'data-name': r.name }),
        ` ${r.name}`),
    );
  }

  previewLabel.textContent = relayedLabel(o.attributionName ? { display_name: o.attributionName } : null);
  text.value = o.initialText;
  updatePreview();
  $('#relay-send').disabled = false;
  dialog.showModal();
  text.focus();
  text.setSelectionRange(0, 0);
}

function updatePreview() {
  preview.textContent = text.value;
}

text.addEventListener('input', updatePreview);

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
    suggestStatus.textContent = 'Select some words in the text to relay first.';
    text.focus();
    return;
  }
  redactRange(start, end);
  suggestStatus.textContent = 'Redacted.';
});

// ---- suggestions ----

$('#suggest-redactions').addEventListener('click', async () => {
  if (!current || !current.original) return;
  const button = $('#suggest-redactions');
  button.disabled = true;
  suggestStatus.textContent = 'Looking for names, addresses and numbers…';
  try {
    const spans = await current.suggest(current.original.id);
    current.spans = spans;
    renderSuggestions();
  } catch (err) {
    suggestStatus.textContent = describeError(err);
  } finally {
    button.disabled = false;
  }
});

/** Draw the original with each suggested span as a clickable highlight. */
function renderSuggestions() {
  const body = current.original.body;
  const spans = [...current.spans]
    .filter((s) => Number.isInteger(s.start) && Number.isInteger(s.end) && s.start < s.end && s.end <= body.length)
    .sort((a, b) => a.start - b.start);
  const parts = [];
  let at = 0;
  let shown = 0;
  for (const span of spans) {
    if (span.start < at) continue; // overlapping: keep the first
    if (span.start > at) parts.push(body.slice(at, span.start));
    const piece = body.slice(span.start, span.end);
    const kind = KIND_LABELS[span.kind] || 'suggestion';
    const button = h(
      'button',
      {
        type: 'button',
        class: 'suggestion',
        testid: 'suggestion',
        'aria-pressed': 'false',
        title: `Suggested: ${kind}. Click to redact it in the text to relay.`,
        dataset: { kind: span.kind, start: String(span.start), end: String(span.end) },
      },
      h('span', { class: 'visually-hidden' }, `Redact ${kind}: `),
      h('mark', { testid: 'suggestion-text' }, piece),
    );
    button.addEventListener('click', () => applySuggestion(button, span));
    parts.push(button);
    at = span.end;
    shown += 1;
  }
  parts.push(body.slice(at));
  replace(originalEl, parts);
  suggestStatus.textContent = shown
    ? `${shown} suggestion${shown === 1 ? '' : 's'} highlighted. Click one to redact it; nothing is redacted until you do.`
    : 'No suggestions for this message.';
}

/**
 * Redact the suggested text in the draft. The span is an offset into the
 * original, but the draft may have been edited since: find the same
 * occurrence of that text (the n-th one, as in the original) in the draft.
 */
function applySuggestion(button, span) {
  const body = current.original.body;
  const piece = body.slice(span.start, span.end);
  let nth = 0;
  for (let i = body.indexOf(piece); i !== -1 && i < span.start; i = body.indexOf(piece, i + 1)) nth += 1;
  const draft = text.value;
  const positions = [];
  for (let i = draft.indexOf(piece); i !== -1; i = draft.indexOf(piece, i + 1)) positions.push(i);
  if (positions.length === 0) {
    suggestStatus.textContent = 'That text is no longer in the draft.';
    button.setAttribute('aria-pressed', 'true');
    button.classList.add('applied');
    return;
  }
  const at = positions[Math.min(nth, positions.length - 1)];
  redactRange(at, at + piece.length);
  button.setAttribute('aria-pressed', 'true');
  button.classList.add('applied');
  suggestStatus.textContent = 'Redacted in the text to relay.';
}

// ---- sending ----

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (!current) return;
  const body = text.value;
  const to = [...form.querySelectorAll('input[name="to"]:checked')].map((i) => i.value);
  if (!body.trim()) {
    showError('The text to relay is empty.');
    return;
  }
  if (current.mode === 'forward' && to.length === 0) {
    showError('Choose at least one party to send it to.');
    return;
  }
  const send = $('#relay-send');
  send.disabled = true;
  show(errorEl, false);
  try {
    await current.submit({ body, to });
    dialog.close();
    current = null;
  } catch (err) {
    showError(describeError(err));
  } finally {
    send.disabled = false;
  }
});

$('#relay-cancel').addEventListener('click', () => {
  dialog.close();
  current = null;
});

function showError(message) {
  errorEl.textContent = message;
  show(errorEl, true);
}
