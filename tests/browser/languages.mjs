// The party page in three languages, in headless Chromium against the real
// relay, whose office settings give the notice and a resource in Spanish
// and French (`[languages.es]`, `[languages.fr]`; tests/tests/browser.rs).
//
// First, without a browser: every locale file has exactly the keys of
// en.json, the plural forms its language needs, the same `{placeholders}`,
// typographic apostrophes and quotes, and (French) a narrow no-break space
// before ? ! : ; — so a missing or broken translation fails here.
//
// Then Lucía, whose browser prefers Spanish, opens her link: the page, the
// office notice, her thread, the ombud's resource card, a consent request,
// the connection status and the dates are Spanish. She switches to French
// with what she is writing still in the composer: everything turns French,
// `<html lang="fr">`, nothing is lost. Bruno, whose browser prefers French,
// reads the notice in French (and poses for the README's phone screenshot).
// Lucía goes back to English; after a reload the page keeps English, the
// language she chose. Then the ombud switches the console to Spanish and
// French: the room list, the room's threads, relays and tools, and the relay
// editor follow, with no English label left, and `<html lang>` with them;
// back to English at the end. axe-core runs on every state.
//
// The ombud's side talks to the relay directly (REST and a websocket from a
// page on the relay's origin), so this script does not depend on the console.
//
// Run: CAUCUS_BASE_URL=http://127.0.0.1:18080 CAUCUS_OMBUD_USER=ombud \
//      CAUCUS_OMBUD_PASSWORD=secret-pass node tests/browser/languages.mjs

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { settings, launch, watchedPage, eventually, step, stepCount, repoRoot, checkA11y } from './lib.mjs';

const cfg = settings();
const LUCIA = 'Lucía Ortega';
const OTHER = 'Bruno Keller';
const FIRST = 'Hola, quisiera hablar de mi horario.';
const DRAFT = 'Un borrador que no debe perderse…';
const NOTE = 'Una nota a medio escribir';
// The office notices and resource titles in tests/tests/browser.rs.
const NOTICE = { es: 'Esta conversación es confidencial', fr: 'Cette conversation est confidentielle', en: 'This conversation is confidential' };
const RESOURCE_ES = 'Programa de ayuda al personal';
// How a full date reads in each language (a month name in it).
const FULL_DATE = {
  es: /\d{1,2} de (enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre) de \d{4}/,
  fr: /\d{1,2} (janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre) \d{4}/,
  en: /(January|February|March|April|May|June|July|August|September|October|November|December) \d{1,2}, \d{4}/,
};

const localesDir = path.join(repoRoot, 'web-client', 'locales');
const PHONE = { viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

const PLURAL_CATEGORIES = new Set(['zero', 'one', 'two', 'few', 'many', 'other']);

/** A locale file as `{key: string | {pluralCategory: string}}`, read as i18n.js reads it. */
function flatten(tree, prefix = '', out = {}) {
  for (const [key, value] of Object.entries(tree)) {
    const at = prefix ? `${prefix}.${key}` : key;
    const plural = typeof value === 'object' && 'other' in value && Object.keys(value).every((k) => PLURAL_CATEGORIES.has(k));
    if (typeof value === 'string' || plural) out[at] = value;
    else flatten(value, at, out);
  }
  return out;
}

const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',');

await step('every locale file has exactly the keys of en.json, its plural forms, placeholders and typography', async () => {
  const index = JSON.parse(await fs.readFile(path.join(localesDir, 'index.json'), 'utf8'));
  const listed = index.languages.map((l) => l.code).sort();
  const files = (await fs.readdir(localesDir)).filter((f) => f !== 'index.json').map((f) => f.replace(/\.json$/, '')).sort();
  assert.deepEqual(listed, files, 'index.json lists exactly the locale files');
  assert.ok(['en', 'es', 'fr'].every((c) => listed.includes(c)), 'English, Spanish and French are there');
  const english = flatten(JSON.parse(await fs.readFile(path.join(localesDir, 'en.json'), 'utf8')));
  const problems = [];
  for (const code of listed) {
    const strings = flatten(JSON.parse(await fs.readFile(path.join(localesDir, `${code}.json`), 'utf8')));
    const missing = Object.keys(english).filter((k) => !(k in strings));
    const extra = Object.keys(strings).filter((k) => !(k in english));
    if (missing.length) problems.push(`${code}.json lacks ${missing.join(', ')}`);
    if (extra.length) problems.push(`${code}.json has keys en.json does not: ${extra.join(', ')}`);
    const categories = new Intl.PluralRules(code).resolvedOptions().pluralCategories.sort();
    for (const [key, value] of Object.entries(strings)) {
      if (!(key in english)) continue;
      const theirs = typeof value === 'string' ? [value] : Object.values(value);
      const ours = typeof english[key] === 'string' ? english[key] : english[key].other;
      if ((typeof value === 'string') !== (typeof english[key] === 'string')) {
        problems.push(`${code}.json: ${key} is plural in one file only`);
      } else if (typeof value !== 'string' && Object.keys(value).sort().join() !== categories.join()) {
        problems.push(`${code}.json: ${key} needs exactly the plural forms ${categories.join(', ')}`);
      }
      for (const text of theirs) {
        if (placeholders(text) !== placeholders(ours)) problems.push(`${code}.json: ${key} has {${placeholders(text)}}, en.json {${placeholders(ours)}}`);
        if (/['"]/.test(text)) problems.push(`${code}.json: ${key} has a straight quote or apostrophe: ${text}`);
        if (code === 'fr' && /(^|[^\u202f])[?!;:]/.test(text.replace(/\{\w+\}|<\{\w+\}/g, '')) && !/^https?:/.test(text)) {
          problems.push(`fr.json: ${key} needs a narrow no-break space before ? ! : ; in: ${text}`);
        }
        if (code === 'fr' && /«[^\u202f]|[^\u202f]»/.test(text)) problems.push(`fr.json: ${key} needs narrow no-break spaces inside « »: ${text}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

const browser = await launch(cfg);
const pages = [];

/** The ombud's side: REST with a token, and requests over a websocket opened by a page on the relay's origin. */
async function ombudSession() {
  const call = async (method, url, body, token) => {
    const res = await fetch(`${cfg.baseUrl}${url}`, {
      method,
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(res.ok, `${method} ${url}: ${res.status} ${await res.clone().text()}`);
    return res.status === 204 ? null : res.json();
  };
  const { token } = await call('POST', '/api/login', { username: cfg.username, password: cfg.password });
  const room = await call('POST', '/api/rooms', { title: 'Horario / Horaires', consent_required: true }, token);
  const lucia = await call('POST', `/api/rooms/${room.id}/parties`, { display_name: LUCIA }, token);
  const other = await call('POST', `/api/rooms/${room.id}/parties`, { display_name: OTHER }, token);
  const office = await call('GET', '/api/office', undefined, token);
  const context = await browser.newContext();
  const page = await watchedPage(context, 'ombud socket');
  pages.push(page);
  await page.goto(`${cfg.baseUrl}/favicon.svg`);
  await page.evaluate(({ token, roomId }) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws`);
    const waiting = new Map();
    let next = 1;
    window.ombud = (frame) => new Promise((ok, fail) => {
      const req = next++;
      waiting.set(req, { ok, fail });
      ws.send(JSON.stringify({ ...frame, req }));
    });
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', token, room_id: roomId }));
    ws.onmessage = (ev) => {
      const frame = JSON.parse(ev.data);
      if (frame.type === 'welcome') resolve();
      const w = waiting.get(frame.req);
      if (!w) return;
      waiting.delete(frame.req);
      if (frame.type === 'ack') w.ok(frame.result);
      else w.fail(new Error(`${frame.code}: ${frame.message}`));
    };
    ws.onclose = (ev) => reject(new Error(`ombud socket closed ${ev.code}`));
  }), { token, roomId: room.id });
  return {
    office,
    lucia,
    other,
    request: (frame) => page.evaluate((f) => window.ombud(f), frame),
  };
}

const status = (page) => page.getByTestId('connection-status');
const message = (page, text) => page.getByTestId('private-thread').getByTestId('message').filter({ hasText: text });

/** What the page shows in the language it claims: `<html lang>`, the chooser, its own words and dates. */
async function assertLanguage(page, code, words, { notice = true } = {}) {
  await eventually(async () => (await page.evaluate(() => document.documentElement.lang)) === code, `<html lang="${code}">`);
  assert.equal(await page.getByTestId('language').inputValue(), code);
  // The pending consent request's count leads the title, and survives a language change.
  assert.equal(await page.title(), `(1) ${words.title}`);
  assert.equal(await page.locator('#private-title').innerText(), words.heading);
  assert.equal(await page.locator('label[for="language"]').innerText(), words.language);
  await eventually(async () => (await status(page).innerText()) === words.online, `connection status "${words.online}"`);
  const mine = message(page, FIRST);
  assert.equal(await mine.getByTestId('message-author').innerText(), words.you);
  assert.equal(await mine.getByTestId('message-state').innerText(), words.sent);
  const title = await mine.locator('time').getAttribute('title');
  assert.match(title, FULL_DATE[code], `the date is written in ${code}: ${title}`);
  const time = await mine.locator('time').innerText();
  assert.match(time, code === 'en' ? /^\d{1,2}:\d{2}\s[AP]M$/ : /^\d{2}:\d{2}$/, `the time is written as ${code} writes it: ${time}`);
  const card = page.getByTestId('consent-card');
  assert.equal(await card.locator('h3').innerText(), words.consentTitle);
  assert.equal(await card.getByRole('button', { name: words.approve }).count(), 1);
  assert.equal(await page.getByTestId('resource-card').locator('.resource-kicker').textContent(), words.resource);
  if (notice) assert.ok((await page.locator('#notice-text').textContent()).startsWith(NOTICE[code]), `the office notice in ${code}`);
}

const WORDS = {
  es: {
    title: 'Su conversación con la persona ombuds · Caucus',
    heading: 'Su conversación con la persona ombuds',
    language: 'Idioma',
    online: 'Conectado',
    you: 'Usted',
    sent: 'Enviado',
    consentTitle: '¿Puede la persona ombuds transmitir esto?',
    approve: 'Aprobar',
    resource: 'Recurso',
  },
  fr: {
    title: 'Votre conversation avec l’ombuds · Caucus',
    heading: 'Votre conversation avec l’ombuds',
    language: 'Langue',
    online: 'Connecté',
    you: 'Vous',
    sent: 'Envoyé',
    consentTitle: 'L’ombuds peut-il transmettre ceci\u202f?',
    approve: 'Approuver',
    resource: 'Ressource',
  },
  en: {
    title: 'Your conversation with the ombud · Caucus',
    heading: 'Your conversation with the ombud',
    language: 'Language',
    online: 'Connected',
    you: 'You',
    sent: 'Sent',
    consentTitle: 'May the ombud pass this on?',
    approve: 'Approve',
    resource: 'Resource',
  },
};

/** Labels of the console in Spanish and French, and English words that must not remain. */
const CONSOLE_WORDS = {
  es: {
    rooms: 'Salas',
    language: 'Idioma',
    parties: '2 partes',
    threads: 'Conversaciones',
    relayTo: 'Transmitir a…',
    waiting: `Esperando el consentimiento de ${LUCIA}`,
    invite: 'Invitar a una parte',
    editorTitle: `Transmitir el mensaje de ${LUCIA}`,
    suggest: 'Sugerir partes que ocultar',
    sendForConsent: 'Enviar para consentimiento',
  },
  fr: {
    rooms: 'Salles',
    language: 'Langue',
    parties: '2 parties',
    threads: 'Fils',
    relayTo: 'Transmettre à…',
    waiting: `En attente de l’accord de ${LUCIA}`,
    invite: 'Inviter une partie',
    editorTitle: `Transmettre le message de ${LUCIA}`,
    suggest: 'Suggérer des passages à masquer',
    sendForConsent: 'Envoyer pour accord',
  },
};
const CONSOLE_ENGLISH = /\b(Rooms|Trends|Sign out|Threads|Relays|Room tools|Relay to|Send|Cancel|Invite|Joint session|Redact|unread|Online|Offline|Waiting|Download|Language|created)\b/;
// A medium date: a month's short name in the language (`2 dic 2026`, `2 déc. 2026`, `Dec 2, 2026`).
const FULL_DATE_SHORT = {
  es: /\d{1,2} (ene|feb|mar|abr|may|jun|jul|ago|sept?|oct|nov|dic)\.? \d{4}/,
  fr: /\d{1,2} (janv|févr|mars|avr|mai|juin|juil|août|sept|oct|nov|déc)\.? \d{4}/,
};

let ombud;
let lucia;

try {
  await step('the office settings give the notice and resources per language', async () => {
    ombud = await ombudSession();
    assert.ok(ombud.office.languages.es.notice.startsWith(NOTICE.es));
    assert.equal(ombud.office.languages.es.resources.find((r) => r.id === 'eap').title, RESOURCE_ES);
    assert.ok(ombud.office.languages.fr.notice.startsWith(NOTICE.fr));
    assert.ok(ombud.office.notice.startsWith(NOTICE.en));
  });

  await step('a party whose browser prefers Spanish gets the page and the office notice in Spanish', async () => {
    const context = await browser.newContext({ ...PHONE, locale: 'es-ES' });
    lucia = await watchedPage(context, 'Lucía');
    pages.push(lucia);
    await lucia.goto(`${cfg.baseUrl}/join#${ombud.lucia.invite_code}`);
    await lucia.getByTestId('notice').waitFor();
    assert.equal(await lucia.evaluate(() => document.documentElement.lang), 'es');
    assert.equal(await lucia.getByRole('heading', { name: 'Antes de empezar' }).count(), 1);
    assert.ok((await lucia.getByTestId('notice-text').innerText()).startsWith(NOTICE.es));
    assert.equal(await lucia.getByTestId('notice-text').getAttribute('lang'), 'es');
    await eventually(async () => (await status(lucia).innerText()) === 'Conectado', 'connected, in Spanish');
    await checkA11y(lucia, 'party (es): office notice');
    await lucia.getByRole('button', { name: 'Entendido' }).click();
    await lucia.getByLabel('Mensaje para la persona ombuds').fill(FIRST);
    await lucia.getByRole('button', { name: 'Enviar', exact: true }).click();
    await message(lucia, FIRST).getByTestId('message-state').filter({ hasText: 'Enviado' }).waitFor();
  });

  await step('the ombud’s reply, a resource in Spanish and a consent request read in Spanish', async () => {
    const me = ombud.lucia.party_id;
    const first = await ombud.request({ type: 'send', channel: `private:${me}`, body: 'Gracias, Lucía. Hablemos.', client_id: 'reply-1' });
    await ombud.request({ type: 'refer', party_id: me, resource_id: 'eap', language: 'es' });
    const source = await lucia.evaluate((text) => {
      const li = [...document.querySelectorAll('[data-testid="message"]')].find((el) => el.textContent.includes(text));
      return li && li.dataset.messageId;
    }, FIRST);
    assert.ok(source && first, 'the party’s message and the ombud’s reply have ids');
    await ombud.request({ type: 'forward', source_message_id: source, to: [ombud.other.party_id], body: 'Quisiera hablar de su horario.' });
    await lucia.getByTestId('resource-card').filter({ hasText: RESOURCE_ES }).waitFor();
    await lucia.getByTestId('consent-card').waitFor();
    await message(lucia, 'Hablemos').waitFor();
    assert.match(await message(lucia, 'Hablemos').getByTestId('message-author').innerText(), /\(ombuds\)$/);
    assert.equal(await lucia.getByTestId('consent-card').getByText('Para:').count(), 1);
    await assertLanguage(lucia, 'es', WORDS.es);
    await checkA11y(lucia, 'party (es): thread, resource and consent request');
  });

  let before;
  await step('switching to French turns everything French and loses nothing', async () => {
    before = await lucia.getByTestId('message').count();
    await lucia.getByTestId('composer-input').fill(DRAFT);
    await lucia.getByTestId('consent-note').fill(NOTE);
    await lucia.getByTestId('language').selectOption('fr');
    await assertLanguage(lucia, 'fr', WORDS.fr);
    assert.equal(await lucia.getByTestId('message').count(), before, 'every message is still there');
    assert.equal(await lucia.getByTestId('composer-input').inputValue(), DRAFT, 'the draft is still there');
    assert.equal(await lucia.getByTestId('consent-note').inputValue(), NOTE, 'the note being written is still there');
    assert.equal(await lucia.getByRole('heading', { name: 'Séance commune' }).count(), 0, 'the joint session stays hidden');
    assert.equal(await lucia.getByLabel('Message à l’ombuds').count(), 1);
    assert.equal(await lucia.getByRole('button', { name: 'Quitter la conversation…' }).count(), 1);
    // No English or Spanish word of the page is left (people's own words aside).
    const chrome = await lucia.evaluate(() => {
      const body = document.body.cloneNode(true);
      for (const el of body.querySelectorAll('.msg-body, .consent-body, .resource-card h4, .resource-card a, #notice-text, option, #room-title')) el.remove();
      return body.innerText;
    });
    assert.doesNotMatch(chrome, /\b(the|your|Send|Sent|Connected|You|Usted|Enviar|Conectado|Recurso)\b/, `only French is left:\n${chrome}`);
    await checkA11y(lucia, 'party (fr): after switching language');
  });

  await step('a party whose browser prefers French reads the notice in French; a phone screenshot for the README', async () => {
    const bruno = await watchedPage(await browser.newContext({ ...PHONE, locale: 'fr-FR' }), 'Bruno');
    pages.push(bruno);
    await bruno.goto(`${cfg.baseUrl}/join#${ombud.other.invite_code}`);
    await bruno.getByTestId('notice').waitFor();
    assert.equal(await bruno.evaluate(() => document.documentElement.lang), 'fr');
    assert.ok((await bruno.getByTestId('notice-text').innerText()).startsWith(NOTICE.fr));
    await eventually(async () => (await status(bruno).innerText()) === 'Connecté', 'connected, in French');
    await checkA11y(bruno, 'party (fr): office notice');
    await bruno.getByRole('button', { name: 'J’ai compris' }).click();
    await bruno.getByLabel('Message à l’ombuds').fill('Bonjour, je voudrais parler de mes horaires avant la fin du mois.');
    await bruno.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await message(bruno, 'Bonjour').getByTestId('message-state').filter({ hasText: 'Envoyé' }).waitFor();
    await ombud.request({
      type: 'send',
      channel: `private:${ombud.other.party_id}`,
      body: 'Merci, Bruno. Nous pouvons en parler jeudi\u202f; rien de ce que vous écrivez ici n’est transmis sans votre accord.',
      client_id: 'reply-fr',
    });
    await message(bruno, 'jeudi').waitFor();
    await checkA11y(bruno, 'party (fr): thread');
    await fs.mkdir(cfg.screenshots, { recursive: true });
    await bruno.evaluate(() => window.scrollTo(0, 0));
    await bruno.screenshot({ path: path.join(cfg.screenshots, 'party-phone-fr.png') });
  });

  await step('back to English, and the choice outlasts a reload', async () => {
    await lucia.getByTestId('language').selectOption('en');
    await assertLanguage(lucia, 'en', WORDS.en);
    assert.equal(await lucia.getByTestId('composer-input').inputValue(), DRAFT);
    assert.equal(await lucia.getByTestId('message').count(), before);
    await checkA11y(lucia, 'party (en): after switching back');
    await lucia.reload();
    await message(lucia, FIRST).waitFor();
    await lucia.getByTestId('consent-card').waitFor();
    // The notice was acknowledged, so the relay no longer sends it.
    await assertLanguage(lucia, 'en', WORDS.en, { notice: false });
    await checkA11y(lucia, 'party (en): reloaded, English kept over the browser’s Spanish');
  });

  await step('the ombud switches the console to Spanish and French, and back to English', async () => {
    const console_ = await watchedPage(await browser.newContext({ viewport: { width: 1280, height: 800 } }), 'ombud console');
    pages.push(console_);
    await console_.goto(`${cfg.baseUrl}/`);
    await console_.getByTestId('login-username').fill(cfg.username);
    await console_.getByTestId('login-password').fill(cfg.password);
    await console_.getByTestId('login-submit').click();
    const roomLink = console_.getByTestId('room-link').filter({ hasText: 'Horario / Horaires' });
    await roomLink.waitFor();
    for (const [code, words] of Object.entries(CONSOLE_WORDS)) {
      await console_.getByTestId('language').selectOption(code);
      await eventually(async () => (await console_.evaluate(() => document.documentElement.lang)) === code, `console <html lang="${code}">`);
      await console_.getByRole('heading', { name: words.rooms, exact: true }).waitFor();
      assert.equal(await console_.locator('label[for="language"]').innerText(), words.language);
      await eventually(async () => (await roomLink.innerText()).includes(words.parties), `the room list in ${code}`);
      assert.match(await roomLink.innerText(), FULL_DATE_SHORT[code], 'the creation date in the page’s language');
      await checkA11y(console_, `console (${code}): room list`);
      await roomLink.click();
      await console_.getByRole('heading', { name: words.threads, exact: true }).waitFor();
      await console_.getByRole('button', { name: words.relayTo }).first().waitFor();
      assert.equal(await console_.getByTestId('relay-summary-item').first().locator('.pill').innerText(), words.waiting);
      assert.equal(await console_.getByTestId('tool-invite').locator('summary').innerText(), words.invite);
      await checkA11y(console_, `console (${code}): a room`);
      await console_.getByRole('button', { name: words.relayTo }).first().click();
      const editor = console_.getByTestId('relay-pane');
      await editor.getByRole('heading', { name: words.editorTitle }).waitFor();
      assert.equal(await editor.getByTestId('suggest-redactions').innerText(), words.suggest);
      assert.equal(await editor.getByTestId('relay-send').innerText(), words.sendForConsent);
      // No English label of the console is left (people's own words aside).
      const chrome = await console_.evaluate(() => {
        const body = document.body.cloneNode(true);
        for (const el of body.querySelectorAll('.msg-body, .forward-body, .original-text, .msg-author, .resource-card, option, #room-heading')) el.remove();
        return body.innerText;
      });
      assert.doesNotMatch(chrome, CONSOLE_ENGLISH, `only ${code} is left:\n${chrome}`);
      await checkA11y(console_, `console (${code}): the relay editor`);
      await editor.getByTestId('relay-cancel').click();
      await console_.getByTestId('nav-rooms').click();
    }
    await console_.getByTestId('language').selectOption('en');
    await console_.getByRole('heading', { name: 'Rooms', exact: true }).waitFor();
    assert.equal(await console_.evaluate(() => document.documentElement.lang), 'en');
    await eventually(async () => (await roomLink.innerText()).includes('2 parties'), 'the room list in English again');
  });

  for (const page of pages) assert.deepEqual(page.problems, [], 'no page errors, CSP violations or dialogs');
  console.log(`# ${stepCount()} steps passed`);
} finally {
  await browser.close();
}
