// Small DOM helpers shared by the party page and the ombud console.
//
// Everything a person typed reaches the page through `textContent` (the `h`
// helper turns every string child into a text node): this file never sets
// innerHTML, and neither does any other file of the web client.

import {
  t, setText, setAttrs, clearText, dateLocale, addFormatter,
  setLanguage, preferredLanguage, languages, currentLanguage, onLanguageChange,
} from './i18n.js';

/** Properties set as DOM properties rather than attributes. */
const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'open']);

/**
 * Create an element. `props` keys: `class`, `testid` (data-testid), `on`
 * (event listeners), `dataset`, DOM properties (value, checked, ...), `i18n`
 * (the element's text: a key, or `[key, params]`, re-translated when the
 * language changes; see i18n.js), `i18nAttrs` (`{attribute: key}`), and any
 * other attribute. Children: strings (rendered as text), nodes, arrays, null.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  const { i18n, i18nAttrs, ...rest } = props || {};
  setProps(el, rest);
  append(el, children);
  if (i18n) setText(el, ...(Array.isArray(i18n) ? i18n : [i18n]));
  if (i18nAttrs) setAttrs(el, i18nAttrs);
  return el;
}

/** Like `h` but in the SVG namespace (for charts). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setProps(el, attrs);
  append(el, children);
  return el;
}

function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) {
      if (PROPS.has(key)) el[key] = false;
      continue;
    }
    if (key === 'on') {
      for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    } else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) el.dataset[k] = v;
    } else if (key === 'testid') {
      el.setAttribute('data-testid', value);
    } else if (key === 'class') {
      el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    } else if (PROPS.has(key)) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

/** Append children; strings and numbers become text nodes. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function $(selector, root = document) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

/** Show or hide with the `hidden` attribute (no inline styles: the CSP forbids them). */
export function show(el, visible = true) {
  el.hidden = !visible;
}

/**
 * Put `message` in `el`: `[key, params]` is translated and follows a
 * language change; a string (a relay's error, already translated) is shown
 * as it is, and the element forgets any key it had.
 */
export function say(el, message) {
  if (Array.isArray(message)) setText(el, ...message);
  else clearText(el).textContent = message;
  return el;
}

/** `say` in an error or status element and show it (they start hidden). */
export function flash(el, message) {
  say(el, message);
  show(el, true);
}

/** A short time in the reader's locale (i18n.js `dateLocale`), with the full date as its title and in `datetime`. */
export function timeEl(iso) {
  const d = new Date(iso);
  const valid = !Number.isNaN(d.getTime());
  const el = h('time', { datetime: valid ? d.toISOString() : '' });
  if (valid) {
    el.dataset.format = 'time';
    formatTime(el);
  }
  return el;
}

function formatTime(el) {
  const d = new Date(el.getAttribute('datetime'));
  const lang = dateLocale();
  el.textContent = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(d);
  el.title = new Intl.DateTimeFormat(lang, { dateStyle: 'full', timeStyle: 'short' }).format(d);
}

/** A date and time in the reader's locale, short ("2 Dec 2026, 14:05"), for text around it. */
export function dateTimeText(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(dateLocale(), { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

/** Like `timeEl`, with the date too: a `<time>` that follows the language when it changes. */
export function dateTimeEl(iso) {
  const d = new Date(iso);
  const valid = !Number.isNaN(d.getTime());
  const el = h('time', { datetime: valid ? d.toISOString() : '' });
  if (valid) {
    el.dataset.format = 'datetime';
    el.textContent = dateTimeText(iso);
  }
  return el;
}

// Times on the page follow the language when it changes.
addFormatter((root) => {
  for (const el of root.querySelectorAll('time[data-format="time"]')) formatTime(el);
  for (const el of root.querySelectorAll('time[data-format="datetime"]')) el.textContent = dateTimeText(el.getAttribute('datetime'));
});

/** Split a plain text into paragraphs on blank lines, as text nodes. */
export function paragraphs(text, props = {}) {
  return String(text)
    .split(/\n\s*\n/)
    .filter((p) => p.trim() !== '')
    .map((p) => h('p', props, p));
}

/**
 * A modal confirmation built on <dialog>. Resolves true when confirmed.
 * (Native `confirm()` is avoided: it blocks the page and cannot be styled.)
 */
export function confirmDialog({ title, body, confirmLabel, cancelLabel = t('common.cancel'), danger = false, testid }) {
  return new Promise((resolve) => {
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId, testid: testid || 'confirm-dialog' });
    const cancel = h('button', { type: 'button', class: 'secondary', testid: 'confirm-cancel' }, cancelLabel);
    const ok = h('button', { type: 'button', class: danger ? 'danger' : 'primary', testid: 'confirm-ok' }, confirmLabel);
    append(dialog, [
      h('h2', { id: titleId }, title),
      (Array.isArray(body) ? body : [body]).map((p) => h('p', {}, p)),
      h('div', { class: 'actions' }, cancel, ok),
    ]);
    let answer = false;
    cancel.addEventListener('click', () => dialog.close());
    ok.addEventListener('click', () => {
      answer = true;
      dialog.close();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/** Offer a Blob as a file download. */
export function downloadBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, class: 'visually-hidden' }, filename);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

/** Copy text to the clipboard; falls back to selecting it in `input`. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (input) {
      input.focus();
      input.select();
      try {
        return document.execCommand('copy');
      } catch {
        return false;
      }
    }
    return false;
  }
}

/** A random id for `client_id` (idempotent sends). */
export function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Start the page in its reader's language (the one chosen on this browser
 * before, else the browser's own) and fill the chooser `select` with every
 * language there is a file for, each in its own name. Text set with a key
 * re-translates in place on a change; `redraw` redraws what is built from
 * data with words around it.
 */
export async function wireLanguage(select, redraw = () => {}) {
  try {
    await setLanguage(preferredLanguage());
  } catch {
    // Its file did not load: the page stays in English.
  }
  replace(select, languages().map((l) => h('option', { value: l.code, lang: l.code }, l.name)));
  select.value = currentLanguage();
  select.addEventListener('change', () => setLanguage(select.value, { remember: true }));
  onLanguageChange((code) => {
    select.value = code;
    redraw();
  });
}
