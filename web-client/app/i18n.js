// Translations for the web client, with no build step: one JSON file per
// language in /locales/ (`en.json`, `es.json`, …), listed with each
// language's own name in /locales/index.json. Adding a language is adding
// its file and one line there.
//
// Keys are dot paths into the file ("party.notice.title"). A value is a
// string with `{name}` placeholders, or, for words that depend on a number,
// an object of Intl.PluralRules categories (`one`, `other`, …) chosen by the
// `count` parameter. A key missing from a language falls back to English,
// key by key, so a half-finished translation still shows a whole page.
//
// Text put on the page with `setText` (or `h(tag, {i18n: …})` in dom.js)
// remembers its key and parameters in data attributes, so `setLanguage`
// re-translates the page in place: nothing is re-rendered, and what a
// person is typing, focus and scroll position stay as they were.

const FALLBACK = 'en';
const STORAGE_KEY = 'caucus.language';
const PLURAL_CATEGORIES = new Set(['zero', 'one', 'two', 'few', 'many', 'other']);

let available = [{ code: FALLBACK, name: 'English' }];
let english = {};
let strings = {};
let language = FALLBACK;
let plurals = new Intl.PluralRules(FALLBACK);
const listeners = new Set();
let switches = 0; // setLanguage calls so far: only the latest one applies

async function fetchJson(path) {
  const res = await fetch(path, { cache: 'no-cache', credentials: 'same-origin' });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

/** A locale file as one level: `{"party": {"title": …}}` becomes `{"party.title": …}`. */
export function flatten(tree, prefix = '', out = {}) {
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isPluralForms(value) || typeof value === 'string') out[path] = value;
    else if (value && typeof value === 'object') flatten(value, path, out);
  }
  return out;
}

/** A leaf holding plural forms: an object of plural categories only, with `other`. */
function isPluralForms(value) {
  return Boolean(value) && typeof value === 'object' && 'other' in value
    && Object.keys(value).every((k) => PLURAL_CATEGORIES.has(k));
}

// English and the list of languages are loaded before any module that
// imports this one runs, so `t` is ready everywhere, the console included.
try {
  const [index, en] = await Promise.all([fetchJson('/locales/index.json'), fetchJson(`/locales/${FALLBACK}.json`)]);
  available = index.languages;
  english = flatten(en);
  strings = english;
} catch {
  // Without the files the page still works, showing keys: better than a blank page.
}

/** The languages there are files for: `[{code, name}]`, each name in its own language. */
export function languages() {
  return available.slice();
}

/** The language now shown, e.g. `es`. */
export function currentLanguage() {
  return language;
}

/**
 * The locale for dates and times: the browser's own variant of the page's
 * language when it has one (`en-GB` writes 14:05 where `en` writes 2:05 PM,
 * `es-MX` and `es-ES` differ too), else the page's language.
 */
export function dateLocale() {
  const variant = (navigator.languages || []).find((tag) => tag.split('-')[0].toLowerCase() === language);
  return variant || language;
}

/**
 * The language to start with: the one this browser chose before, else the
 * first of the browser's preferred languages there is a file for (exactly,
 * or by its primary subtag: `es-MX` finds `es`), else English.
 */
export function preferredLanguage() {
  const codes = new Set(available.map((l) => l.code));
  let stored = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage may be off; the browser's languages still apply.
  }
  if (stored && codes.has(stored)) return stored;
  for (const tag of navigator.languages || [navigator.language]) {
    if (!tag) continue;
    if (codes.has(tag)) return tag;
    const base = tag.split('-')[0].toLowerCase();
    if (codes.has(base)) return base;
  }
  return FALLBACK;
}

/**
 * Show the page in `code`: load its file, set `<html lang>`, re-translate
 * everything marked with a key and tell `onLanguageChange` listeners.
 * `remember` keeps the choice for the next visit (a choice the person made).
 */
export async function setLanguage(code, { remember = false } = {}) {
  if (!available.some((l) => l.code === code)) code = FALLBACK;
  const call = ++switches;
  const loaded = code === FALLBACK ? english : { ...english, ...flatten(await fetchJson(`/locales/${code}.json`)) };
  // A quicker, later choice has already won.
  if (call !== switches) return language;
  strings = loaded;
  language = code;
  plurals = new Intl.PluralRules(code);
  document.documentElement.lang = code;
  if (remember) {
    try {
      localStorage.setItem(STORAGE_KEY, code);
    } catch {
      // Not remembered; the choice still holds for this page.
    }
  }
  translatePage();
  for (const fn of listeners) fn(code);
  return code;
}

/** Call `fn(code)` after every language change (for text that is not marked with a key). */
export function onLanguageChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** The text for `key` in the current language, with `{name}` filled from `params`. */
export function t(key, params = {}) {
  let text = strings[key] ?? english[key];
  if (text === undefined) return key;
  if (typeof text === 'object') {
    const form = typeof params.count === 'number' ? plurals.select(params.count) : 'other';
    text = text[form] ?? english[key]?.[form] ?? text.other;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** Set `el`'s text to `key` translated, and remember the key for the next language change. */
export function setText(el, key, params) {
  el.dataset.i18n = key;
  if (params && Object.keys(params).length) el.dataset.i18nParams = JSON.stringify(params);
  else delete el.dataset.i18nParams;
  el.textContent = t(key, params);
  return el;
}

/** Set attributes of `el` to translations, e.g. `{placeholder: 'party.note'}`, remembered like `setText`. */
export function setAttrs(el, attrs) {
  el.dataset.i18nAttrs = JSON.stringify(attrs);
  for (const [attr, key] of Object.entries(attrs)) el.setAttribute(attr, t(key));
  return el;
}

/** Forget the key of an element whose text is about to be set to something else. */
export function clearText(el) {
  delete el.dataset.i18n;
  delete el.dataset.i18nParams;
  return el;
}

/**
 * Re-translate everything under `root` that carries a key: static text
 * (`data-i18n` in the HTML), text set with `setText`, translated attributes,
 * and dates and times (`time[data-format]`, see `dom.js`).
 */
export function translatePage(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = t(el.dataset.i18n, el.dataset.i18nParams ? JSON.parse(el.dataset.i18nParams) : undefined);
  }
  for (const el of root.querySelectorAll('[data-i18n-attrs]')) {
    for (const [attr, key] of Object.entries(JSON.parse(el.dataset.i18nAttrs))) el.setAttribute(attr, t(key));
  }
  for (const fn of formatters) fn(root);
}

const formatters = [];

/** Something else to redo on every language change (dom.js reformats dates with it). */
export function addFormatter(fn) {
  formatters.push(fn);
}
