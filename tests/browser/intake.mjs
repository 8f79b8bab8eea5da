// The office's front door, in headless Chromium against the real relay.
//
// A visitor on a phone opens `/`, follows "Contact the office", reads the
// notice, stays anonymous and starts a conversation (the page solves the
// proof of work); it is shown its private return link and copies it. The
// conversation appears in the queue of both ombuds; A claims it, and it
// leaves B's queue. A and the visitor write to each other. The visitor
// closes its browser and comes back with the return link to the whole
// conversation. A turns it into a mediation and invites a second party,
// whose link works in a fourth context. A's console shows the
// conversation's panel in Spanish, B's the office queue, and a visitor whose browser prefers
// Spanish reads the contact page in Spanish, then switches it to French.
//
// Run: CAUCUS_BASE_URL=… CAUCUS_OMBUD_USER=… CAUCUS_OMBUD_PASSWORD=…
//      CAUCUS_SECOND_USER=… CAUCUS_SECOND_PASSWORD=… node tests/browser/intake.mjs

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { settings, launch, watchedPage, eventually, step, stepCount, repoRoot, checkA11y, reportFailure } from './lib.mjs';

const cfg = settings();
const second = { username: process.env.CAUCUS_SECOND_USER, password: process.env.CAUCUS_SECOND_PASSWORD };
assert.ok(second.username && second.password, 'CAUCUS_SECOND_USER and CAUCUS_SECOND_PASSWORD must be set');
const FIRST = 'My manager keeps changing my deadlines.';
const REPLY = 'Thank you for reaching out. What would help most?';
const AGAIN = 'Mostly I want to know my options.';
const HEAD = 'Head of department';

const browser = await launch(cfg);
const phone = { viewport: { width: 375, height: 812 } };
const desk = { viewport: { width: 1440, height: 960 } };
const pages = [];

async function newPage(options, name) {
  const context = await browser.newContext(options);
  const page = await watchedPage(context, name);
  pages.push(page);
  return page;
}

async function signIn(page, who) {
  await page.goto(`${cfg.baseUrl}/`);
  await page.getByLabel('Username', { exact: true }).fill(who.username);
  await page.getByLabel('Password', { exact: true }).fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Rooms' }).waitFor();
}

const queueEntry = (page, label) => page.getByTestId('queue-entry').filter({ hasText: label });
const column = (page, name) => page.locator(`[data-testid="column"][data-name="${name}"]`);
const messageIn = (scope, text) => scope.locator('[data-testid="message"]', { hasText: text });

let visitor;
let label;
let returnLink;
let ombudA;
let ombudB;

try {
  await step('the visitor finds the contact page from / and reads the notice', async () => {
    visitor = await newPage(phone, 'visitor');
    await visitor.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: cfg.baseUrl });
    await visitor.goto(`${cfg.baseUrl}/`);
    await visitor.getByRole('link', { name: 'Contact the office' }).click();
    await visitor.getByTestId('contact-about').waitFor();
    assert.match(await visitor.getByTestId('office-name').innerText(), /Harbour Ombuds/);
    assert.match(await visitor.getByTestId('office-hours').innerText(), /Weekdays/);
    assert.match(await visitor.getByTestId('contact-about').innerText(), /starts no formal process/);
    assert.match(await visitor.getByTestId('contact-about').innerText(), /You remain in control/);
    await checkA11y(visitor, 'contact page');
  });

  await step('the visitor starts an anonymous conversation and keeps its return link', async () => {
    await visitor.getByLabel('Your message to the office').fill(FIRST);
    await visitor.getByLabel('I have read the notice above').check();
    await visitor.getByRole('button', { name: 'Start a confidential conversation' }).click();
    await visitor.getByTestId('started').waitFor();
    label = (await visitor.getByTestId('started-label').innerText()).trim();
    assert.match(label, /^Visitor \d{4}$/);
    returnLink = await visitor.getByTestId('return-link').inputValue();
    assert.ok(returnLink.startsWith(`${cfg.baseUrl}/join#return.`), returnLink);
    await visitor.getByRole('button', { name: 'Copy' }).click();
    await eventually(async () => /Copied/.test(await visitor.getByTestId('return-copied').innerText()), 'copied');
    assert.equal(await visitor.evaluate(() => navigator.clipboard.readText()), returnLink);
    await checkA11y(visitor, 'contact page: return link shown');
  });

  await step('the conversation appears in both ombuds\' queues, without its words', async () => {
    ombudA = await newPage(desk, 'ombud A');
    ombudB = await newPage(desk, 'ombud B');
    await signIn(ombudA, { username: cfg.username, password: cfg.password });
    await signIn(ombudB, second);
    for (const page of [ombudA, ombudB]) {
      await queueEntry(page, label).waitFor();
      const text = await page.getByTestId('office-queue').innerText();
      assert.match(text, /1 unread message/);
      assert.ok(!text.includes('deadlines'), 'the queue shows no words');
    }
    await checkA11y(ombudA, 'console: office queue');
  });

  await step('A claims it; it leaves B\'s queue, and B cannot see it', async () => {
    await queueEntry(ombudA, label).getByRole('button', { name: `Claim the conversation with ${label}` }).click();
    await ombudA.getByTestId('room-heading').filter({ hasText: label }).waitFor();
    await ombudA.getByTestId('intake-room').waitFor();
    assert.match(await ombudA.getByTestId('intake-kind').innerText(), /consultation/);
    await messageIn(column(ombudA, label), FIRST).waitFor();
    await checkA11y(ombudA, 'console: a claimed conversation');
    await eventually(async () => (await queueEntry(ombudB, label).count()) === 0, 'gone from B\'s queue', 20_000);
    assert.equal(await ombudB.getByTestId('room-link').filter({ hasText: label }).count(), 0);
  });

  await step('the ombud and the visitor write to each other', async () => {
    const composer = column(ombudA, label).getByTestId('composer-input');
    await composer.fill(REPLY);
    await composer.press('Control+Enter');
    await visitor.getByRole('link', { name: 'Go to your conversation' }).click();
    await visitor.getByTestId('private-thread').getByText(FIRST).waitFor();
    await visitor.getByTestId('private-thread').getByText(REPLY).waitFor();
    await visitor.getByTestId('composer-input').fill(AGAIN);
    await visitor.getByRole('button', { name: 'Send', exact: true }).click();
    await messageIn(column(ombudA, label), AGAIN).waitFor();
    await checkA11y(visitor, 'visitor: the conversation');
  });

  await step('the visitor closes its browser and comes back with the return link', async () => {
    await visitor.context().close();
    const back = await newPage(phone, 'visitor, back');
    await back.goto(returnLink);
    const thread = back.getByTestId('private-thread');
    for (const text of [FIRST, REPLY, AGAIN]) await thread.getByText(text).waitFor();
    await back.getByTestId('connection-status').and(back.locator('[data-state="online"]')).waitFor();
    await checkA11y(back, 'visitor: back with the return link');
  });

  await step('A turns it into a mediation and invites a second party, who joins', async () => {
    await ombudA.getByRole('button', { name: 'Turn into a mediation' }).click();
    await eventually(async () => /mediation that began/.test(await ombudA.getByTestId('intake-kind').innerText()), 'converted');
    const tool = ombudA.locator('#tool-invite');
    if ((await tool.getAttribute('open')) === null) await tool.locator('summary').click();
    await ombudA.getByLabel('Name the party will be shown as').fill(HEAD);
    await ombudA.getByRole('button', { name: 'Create invitation link' }).click();
    const link = ombudA.locator(`[data-testid="invite-link"][data-name="${HEAD}"]`);
    await link.waitFor();
    const head = await newPage(phone, 'second party');
    await head.goto(await link.inputValue());
    await head.getByRole('button', { name: 'I understand' }).click();
    await head.getByTestId('composer-input').waitFor();
    assert.ok(!(await head.content()).includes('deadlines'), 'the second party sees nothing of the visitor\'s thread');
    await column(ombudA, HEAD).waitFor();
    await checkA11y(ombudA, 'console: converted to a mediation');
  });

  await step('the console’s conversation panel and the contact page speak Spanish (and French)', async () => {
    await ombudA.getByTestId('language').selectOption('es');
    await ombudA.getByRole('heading', { name: 'Conversación desde la página de contacto' }).waitFor();
    assert.equal(await ombudA.getByTestId('intake-kind').innerText(), 'Una mediación que comenzó como conversación en la página de contacto.');
    assert.equal(await ombudA.getByTestId('block-button').innerText(), 'Cerrar y bloquear…');
    await checkA11y(ombudA, 'console (es): a conversation from the contact page');
    await ombudA.getByTestId('language').selectOption('en');
    await ombudA.getByRole('heading', { name: 'Conversation from the contact page' }).waitFor();
    await ombudB.goto(`${cfg.baseUrl}/#/rooms`);
    await ombudB.getByTestId('language').selectOption('es');
    await ombudB.getByRole('heading', { name: 'Cola de la oficina' }).waitFor();
    await ombudB.getByText('No hay nadie esperando.').waitFor();
    await checkA11y(ombudB, 'console (es): the office queue');
    await ombudB.getByTestId('language').selectOption('en');
    await ombudB.getByRole('heading', { name: 'Office queue' }).waitFor();

    const lucia = await newPage({ ...phone, locale: 'es-ES' }, 'visitor (es)');
    await lucia.goto(`${cfg.baseUrl}/contact`);
    await lucia.getByTestId('start').waitFor();
    assert.equal(await lucia.evaluate(() => document.documentElement.lang), 'es');
    assert.equal(await lucia.title(), 'Contactar con Harbour Ombuds · Caucus');
    await lucia.getByRole('heading', { name: 'Hable con la oficina ombuds, de forma confidencial' }).waitFor();
    assert.equal(await lucia.getByRole('button', { name: 'Iniciar una conversación confidencial' }).count(), 1);
    assert.equal(await lucia.getByLabel('Su mensaje para la oficina').count(), 1);
    assert.equal(await lucia.locator('label[for="language"]').innerText(), 'Idioma');
    // No English word of the page is left (the office's own texts aside).
    const chrome = await lucia.evaluate(() => {
      const body = document.body.cloneNode(true);
      for (const el of body.querySelectorAll('#notice-text, #office-name, #office-hours, #response-time, option')) el.remove();
      return body.innerText;
    });
    assert.doesNotMatch(chrome, /\b(the|your|you|Start|Anonymous|Copy|Loading|Office hours|Language)\b/, `only Spanish is left:\n${chrome}`);
    await checkA11y(lucia, 'contact page (es)');
    await lucia.getByTestId('language').selectOption('fr');
    await lucia.getByRole('heading', { name: 'Parlez au bureau de l’ombuds, en toute confidentialité' }).waitFor();
    assert.equal(await lucia.evaluate(() => document.documentElement.lang), 'fr');
    assert.equal(await lucia.title(), 'Contacter Harbour Ombuds · Caucus');
    await checkA11y(lucia, 'contact page (fr)');
  });

  await step('no page error, CSP violation or JavaScript dialog on any page', async () => {
    assert.deepEqual(pages.flatMap((p) => p.problems), []);
  });

  console.log(`${stepCount()} passed, 0 failed`);
} catch (err) {
  await reportFailure(err, 'intake', pages);
} finally {
  await browser.close();
}
