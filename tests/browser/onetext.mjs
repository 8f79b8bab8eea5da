// The single negotiating text in headless Chromium, three people at once:
// the ombud drafts a proposal and shows it to both parties (on phone-sized
// pages); A comments on a clause in private; the ombud relays the comment
// to B with A's consent; the ombud revises, B sees the changed clause
// highlighted; both accept the exact version asked; each gets the
// concluded agreement, and A downloads it. Then a range question: each
// party gives a private bound, and both learn only the overlap and the
// suggested figure. B's page and every websocket frame B received never
// held A's comment or A's bound.
//
// Run: CAUCUS_BASE_URL=http://127.0.0.1:18080 CAUCUS_OMBUD_USER=ombud \
//      CAUCUS_OMBUD_PASSWORD=secret-pass node tests/browser/onetext.mjs
// (add CAUCUS_PARTY_BASE_URL=http://127.0.0.1:18081, a second relay of the
// same deployment, to put the parties on it: tests/tests/redis/browser.rs)

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { settings, partyUrl, launch, watchedPage, eventually, step, stepCount, repoRoot, checkA11y, reportFailure } from './lib.mjs';

const cfg = settings();

const NAME_A = 'Zoë Martín';
const NAME_B = 'Ben Okafor';
const TITLE = 'Lab schedule';
const CLAUSES_1 = ['Zoë books the lab in the mornings.', 'Ben books it in the evenings.'];
const CLAUSES_2 = ['Zoë books the lab in the mornings.', 'Ben books it in the evenings, except Thursdays.'];
const COMMENT = 'Evenings are when my centrifuge-run-8812 experiments go.';
const RELAYED = 'Zoë needs some evenings for long experiments.';
const BOUND_A = 9137;
const BOUND_B = 7011;
const MIDPOINT = Math.floor((BOUND_A + BOUND_B) / 2);

const browser = await launch(cfg);
const ombudContext = await browser.newContext({ viewport: { width: 1440, height: 960 }, acceptDownloads: true });
const partyOptions = { viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, acceptDownloads: true };
const aContext = await browser.newContext(partyOptions);
const bContext = await browser.newContext(partyOptions);
const ombud = await watchedPage(ombudContext, 'ombud');
const partyA = await watchedPage(aContext, 'party A');
const partyB = await watchedPage(bContext, 'party B');

const framesB = [];
partyB.on('websocket', (ws) => {
  ws.on('framereceived', (frame) => framesB.push(typeof frame.payload === 'string' ? frame.payload : frame.payload.toString('utf8')));
});

const column = (name) => ombud.locator(`[data-testid="column"][data-name="${name}"]`);
// The console shows one thread at a time: choose it in the thread list first.
const openThread = async (name) => {
  await ombud.locator(`[data-testid="thread-tab"][data-name="${name}"]`).click();
  await column(name).waitFor();
  return column(name);
};
const messageIn = (scope, text) => scope.locator('[data-testid="message"]', { hasText: text });
const links = {};

try {
  await step('the ombud signs in, creates a room and invites two parties', async () => {
    await ombud.goto(`${cfg.baseUrl}/`);
    await ombud.getByLabel('Username', { exact: true }).fill(cfg.username);
    await ombud.getByLabel('Password', { exact: true }).fill(cfg.password);
    await ombud.getByRole('button', { name: 'Sign in' }).click();
    await ombud.getByRole('heading', { name: 'Rooms' }).waitFor();
    await ombud.getByLabel('Title').fill('Lab scheduling');
    await ombud.getByRole('button', { name: 'Create room' }).click();
    await ombud.getByTestId('room-heading').filter({ hasText: 'Lab scheduling' }).waitFor();
    await ombud.getByTestId('connection-status').and(ombud.locator('[data-state="online"]')).waitFor();
    for (const name of [NAME_A, NAME_B]) {
      await ombud.getByLabel('Name the party will be shown as').fill(name);
      await ombud.getByRole('button', { name: 'Create invitation link' }).click();
      const link = ombud.locator(`[data-testid="invite-link"][data-name="${name}"]`);
      await link.waitFor();
      links[name] = await link.inputValue();
      await column(name).waitFor();
    }
  });

  for (const [page, name] of [[partyA, NAME_A], [partyB, NAME_B]]) {
    await step(`${name} joins on a phone-sized page and acknowledges the notice`, async () => {
      await page.goto(partyUrl(cfg, links[name]));
      assert.equal(new URL(page.url()).origin, new URL(cfg.partyBaseUrl).origin, `${name}'s page is on the parties' relay`);
      await page.getByTestId('notice').waitFor();
      await page.getByRole('button', { name: 'I understand' }).click();
      await page.getByTestId('notice').waitFor({ state: 'hidden' });
      await eventually(async () => /acknowledged/.test(await column(name).innerText()), `${name} acknowledged`);
    });
  }

  await step('the ombud drafts version 1 and shares it with both parties', async () => {
    await ombud.getByText('Single text and range questions', { exact: true }).click();
    await ombud.getByTestId('proposal-title').fill(TITLE);
    await ombud.getByTestId('proposal-clauses').fill(CLAUSES_1.join('\n'));
    await ombud.getByRole('button', { name: 'Save the first version' }).click();
    await ombud.getByTestId('proposal-heading').filter({ hasText: 'version 1' }).waitFor();
    await ombud.getByRole('button', { name: 'Share version 1' }).click();
    await eventually(async () => (await ombud.getByTestId('onetext-party-row').allInnerTexts()).every((t) => /v1/.test(t)), 'both shown v1');
    for (const page of [partyA, partyB]) {
      const card = page.getByTestId('proposal-card');
      await card.waitFor();
      assert.deepEqual(await card.locator('.clause-text').allInnerTexts(), CLAUSES_1);
    }
    await checkA11y(partyA, 'party: proposal card');
    await checkA11y(ombud, 'console: single text panel with a shared version');
  });

  await step('A comments on clause 2 in private', async () => {
    const clause = partyA.locator('[data-testid="proposal-clause"][data-clause="2"]');
    await clause.getByRole('button', { name: 'Comment on clause 2' }).click();
    await clause.getByTestId('comment-input').fill(COMMENT);
    await clause.getByRole('button', { name: 'Send to the ombud' }).click();
    await partyA.getByTestId('comment-sent').waitFor();
    await messageIn(await openThread(NAME_A), COMMENT).waitFor();
    assert.equal(await messageIn(column(NAME_A), COMMENT).getByTestId('comment-on').innerText(), 'Comment on proposal version 1, clause 2');
    await eventually(async () => /\t1\t/.test((await ombud.getByTestId('onetext-party-row').first().innerText())), 'one comment counted');
  });

  await step('the ombud relays the comment to B; A approves the exact text', async () => {
    const msg = messageIn(column(NAME_A), COMMENT);
    await msg.getByRole('button', { name: 'Relay to…' }).click();
    const editor = ombud.getByTestId('relay-pane');
    await editor.waitFor();
    await editor.getByTestId('relay-text').fill(RELAYED);
    await editor.getByRole('button', { name: 'Send for consent' }).click();
    await editor.waitFor({ state: 'hidden' });
    const card = partyA.getByTestId('consent-card');
    await card.waitFor();
    assert.equal(await card.getByTestId('consent-body').innerText(), RELAYED);
    await card.getByRole('button', { name: 'Approve' }).click();
    const relayed = partyB.locator('[data-testid="message"].relayed');
    await relayed.waitFor();
    assert.equal(await relayed.getByTestId('message-body').innerText(), RELAYED);
  });

  await step('the ombud revises; B sees version 2 with the changed clause highlighted', async () => {
    await ombud.getByTestId('proposal-clauses').fill(CLAUSES_2.join('\n'));
    await ombud.getByRole('button', { name: 'Save a new version' }).click();
    await ombud.getByTestId('proposal-heading').filter({ hasText: 'version 2' }).waitFor();
    await ombud.getByRole('button', { name: 'Share version 2' }).click();
    const card = partyB.locator('[data-testid="proposal-card"][data-version="2"]');
    await card.waitFor();
    const changed = card.locator('[data-testid="proposal-clause"][data-change="changed"]');
    assert.equal(await changed.count(), 1);
    assert.match(await changed.innerText(), /except Thursdays/);
    assert.match(await changed.locator('.clause-before').innerText(), /Ben books it in the evenings\./);
    await checkA11y(partyB, 'party: version 2 with a changed clause');
  });

  await step('the ombud asks for a decision; both accept; everyone sees the agreement concluded', async () => {
    await ombud.getByRole('button', { name: 'Ask for a decision on version 2' }).click();
    await partyA.getByTestId('decision-request').waitFor();
    await checkA11y(partyA, 'party: decision request');
    await partyA.getByRole('button', { name: 'Accept this version' }).click();
    await partyA.getByTestId('decision-made').filter({ hasText: 'You accepted this version.' }).waitFor();
    await eventually(async () => /accepted v2/.test(await ombud.getByTestId('onetext-decision').first().innerText()), 'the ombud sees A accepted');
    assert.equal(await partyB.getByTestId('decision-made').count(), 0, "B is not told of A's decision");
    await partyB.getByTestId('decision-request').waitFor();
    await partyB.getByRole('button', { name: 'Accept this version' }).click();
    for (const page of [partyA, partyB]) await page.getByTestId('agreement-concluded').waitFor();
    await ombud.getByTestId('agreement-concluded').waitFor();
    const rows = await ombud.getByTestId('onetext-decision').allInnerTexts();
    assert.deepEqual(rows, ['accepted v2', 'accepted v2']);
    await checkA11y(partyA, 'party: agreement concluded');
    await checkA11y(ombud, 'console: agreement concluded');
  });

  await step('A downloads the concluded agreement as a self-contained page', async () => {
    const [download] = await Promise.all([
      partyA.waitForEvent('download'),
      partyA.getByRole('button', { name: 'Download the agreement' }).click(),
    ]);
    const html = await fs.readFile(await download.path(), 'utf8');
    assert.ok(html.startsWith('<!doctype html>'));
    assert.ok(html.includes('except Thursdays'), 'the agreed text');
    assert.ok(html.includes('Keep this copy'), 'the page says the relay keeps nothing');
    assert.ok(!html.includes('<script'), 'self-contained, no script');
    assert.ok(!html.includes('centrifuge-run-8812'), 'no comment in the agreement');
  });

  await step('the party page fits a phone: nothing wider than the screen', async () => {
    await fs.mkdir(cfg.screenshots, { recursive: true });
    for (const [page, name] of [[partyB, 'onetext-party'], [ombud, 'onetext-console']]) {
      await page.screenshot({ path: path.join(cfg.screenshots, `${name}.png`), fullPage: true });
    }
    const overflow = await partyB.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
  });

  await step('a range question: private bounds, and only the overlap and midpoint are revealed', async () => {
    await ombud.getByTestId('range-title').fill('Compensation');
    await ombud.getByTestId('range-unit').fill('EUR');
    await ombud.getByRole('button', { name: 'Open question' }).click();
    for (const [page, value] of [[partyA, BOUND_A], [partyB, BOUND_B]]) {
      const card = page.getByTestId('range-card');
      await card.waitFor();
      if (page === partyA) await checkA11y(page, 'party: range question card');
      await card.getByTestId('range-input').fill(String(value));
      await card.getByRole('button', { name: 'Submit privately' }).click();
      await page.getByTestId('range-bound').filter({ hasText: String(value) }).waitFor();
    }
    await eventually(async () => /the bounds overlap/.test(await ombud.getByTestId('range-item').innerText()), 'ombud sees overlap');
    assert.ok(!(await ombud.getByTestId('range-item').innerText()).includes(String(BOUND_A)), 'the ombud did not ask to see bounds');
    await ombud.getByRole('button', { name: 'Close, tell them and suggest the midpoint' }).click();
    for (const page of [partyA, partyB]) {
      const outcome = page.getByTestId('range-outcome');
      await outcome.waitFor();
      assert.match(await outcome.innerText(), new RegExp(`room for agreement.*${MIDPOINT}`));
    }
    await checkA11y(partyA, 'party: range outcome');
    await checkA11y(ombud, 'console: range question closed');
  });

  await step("B never received A's comment or bound, on the page or in any frame", async () => {
    // A bound is a number on its own, not four digits inside an id or a
    // timestamp (a random uuid holds "9137" now and then).
    const alone = (n) => new RegExp(`(^|[^\\w-])${n}($|[^\\w-])`);
    const page = await partyB.content();
    for (const secret of [/centrifuge-run-8812/, alone(BOUND_A)]) {
      assert.ok(!secret.test(page), `B's page holds ${secret}`);
      assert.ok(!framesB.some((f) => secret.test(f)), `a frame to B held ${secret}`);
    }
    assert.ok(!alone(BOUND_B).test(await partyA.content()));
  });

  await step('no page error, CSP violation or JavaScript dialog on any page', async () => {
    assert.deepEqual([...ombud.problems, ...partyA.problems, ...partyB.problems], []);
  });

  console.log(`${stepCount()} passed, 0 failed`);
} catch (err) {
  await reportFailure(err, 'onetext', [ombud, partyA, partyB]);
} finally {
  await browser.close();
}
