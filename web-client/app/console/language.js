// The console's language: the one this browser chose before, else the
// browser's own (i18n.js `preferredLanguage`), and the chooser in the top
// bar. Text marked with a key re-translates in place; what is drawn from
// data with words around it (the room list, a thread's head, the relays)
// is drawn again by its module's own `onLanguageChange` listener.

import { $, h, replace } from '../dom.js';
import { setLanguage, preferredLanguage, languages, currentLanguage, onLanguageChange } from '../i18n.js';

/** Start in the preferred language and list every language there is a file for. */
export async function wireLanguage(redraw) {
  try {
    await setLanguage(preferredLanguage());
  } catch {
    // Its file did not load: the console stays in English.
  }
  const select = $('#language');
  replace(select, languages().map((l) => h('option', { value: l.code, lang: l.code }, l.name)));
  select.value = currentLanguage();
  select.addEventListener('change', () => setLanguage(select.value, { remember: true }));
  onLanguageChange((code) => {
    select.value = code;
    redraw();
  });
}
