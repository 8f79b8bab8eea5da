// Parties can come back, in headless Chromium against the real relay.
//
// The ombud invites Pat and Quinn from the console. Pat ticks "Keep me
// signed in on this device", and a new browser context holding only Pat's
// saved storage (as after closing the browser) opens the conversation again;
// Quinn does not tick it, and the same gets the page that says to ask the
// ombud for a new link. The console shows each party's link status and when
// it was last online. The ombud gives Pat a new link with "New link": Pat's
// open page ends on a page that says what to do, the old link is refused,
// and the new one brings Pat back to its whole thread. Pat signs out on the
// device; and a session kept past the room's end says the conversation
// ended.
//
// Run: CAUCUS_BASE_URL=http://127.0.0.1:18080 CAUCUS_OMBUD_USER=ombud \
//      CAUCUS_OMBUD_PASSWORD=secret-pass node tests/browser/relink.mjs

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { settings, launch, watchedPage, eventually, step, stepCount, repoRoot, checkA11y, reportFailure } from './lib.mjs';

const cfg = settings();
const PAT = 'Pat Quill';
const QUINN = 'Quinn Ade';
const BEFORE = 'Written before I closed my browser.';
const AFTER = 'Back again with the new link.';

const browser = await launch(cfg);
const partyOptions = { viewport: { width: 375, height: 812 } };
const ombudContext = await browser.newContext({ viewport: { width: 1440, height: 960 } });
const ombud = await watchedPage(ombudContext, 'ombud');
const pages = [ombud];

/** A new party context (optionally with saved storage) and a watched page in it. */
async function partyPage(name, storageState) {
  const context = await browser.newContext({ ...partyOptions, ...(storageState ? { storageState } : {}) });
  const page = await watchedPage(context, name);
  pages.push(page);
  return page;
}

const column = (name) => ombud.locator(`[data-testid="column"][data-name="${name}"]`);
// The console shows one thread at a time: choose it in the thread list first.
const openThread = async (name) => {
  await ombud.locator(`[data-testid="thread-tab"][data-name="${name}"]`).click();
  await column(name).waitFor();
  return column(name);
};
const linkStatus = (name) => column(name).getByTestId('link-status');
const lastOnline = async (name) => column(name).getByTestId('last-online').innerText();
const ended = (page) => page.getByTestId('ended');

/** The dead-end page is shown, of `kind`, and tells the party to ask for a new link. */
async function assertDeadEnd(page, kind) {
  await ended(page).waitFor();
  assert.equal(await ended(page).getAttribute('data-kind'), kind);
  assert.match(await ended(page).innerText(), /ask (your ombud|them) for a new (link|one)/);
  assert.equal(await page.getByTestId('composer').isVisible(), false);
}

async function join(page, link) {
  // From a blank page, so that a link to the page already open loads it
  // afresh instead of changing only its fragment.
  await page.goto('about:blank');
  await page.goto(link);
  await page.getByTestId('private-thread').waitFor();
  await page.getByTestId('connection-status').and(page.locator('[data-state="online"]')).waitFor();
}

const links = {};
let pat;
let patState;

try {
  await step('the ombud signs in, creates a room and invites two parties', async () => {
    await ombud.goto(`${cfg.baseUrl}/`);
    await ombud.getByLabel('Username', { exact: true }).fill(cfg.username);
    await ombud.getByLabel('Password', { exact: true }).fill(cfg.password);
    await ombud.getByRole('button', { name: 'Sign in' }).click();
    await ombud.getByRole('heading', { name: 'Rooms' }).waitFor();
    await ombud.getByLabel('Title').fill('Coming back');
    await ombud.getByRole('button', { name: 'Create room' }).click();
    await ombud.getByTestId('room-heading').filter({ hasText: 'Coming back' }).waitFor();
    for (const name of [PAT, QUINN]) {
      await ombud.getByLabel('Name the party will be shown as').fill(name);
      await ombud.getByRole('button', { name: 'Create invitation link' }).click();
      const link = ombud.locator(`#invites [data-testid="invite-link"][data-name="${name}"]`);
      await link.waitFor();
      links[name] = await link.inputValue();
      assert.equal(await linkStatus(name).getAttribute('data-status'), 'unused');
      assert.equal(await lastOnline(name), 'Never online');
    }
  });

  await step('Pat joins, writes, and chooses to stay signed in on this device', async () => {
    pat = await partyPage('Pat');
    await join(pat, links[PAT]);
    await pat.getByRole('button', { name: 'I understand' }).click();
    await pat.getByTestId('composer-input').fill(BEFORE);
    await pat.getByRole('button', { name: 'Send', exact: true }).click();
    await pat.getByTestId('private-thread').getByText(BEFORE).waitFor();
    const keep = pat.getByLabel('Keep me signed in on this device');
    assert.equal(await keep.isChecked(), false, 'opt-in: off unless chosen');
    assert.match(await pat.locator('#keep-hint').innerText(), /shared or public computer/);
    assert.equal(await pat.getByTestId('sign-out').isVisible(), false);
    await keep.check();
    await pat.getByTestId('sign-out').waitFor();
    await checkA11y(pat, 'party: kept signed in');
    await fs.mkdir(cfg.screenshots, { recursive: true });
    await pat.screenshot({ path: path.join(cfg.screenshots, 'relink-party-kept.png'), fullPage: true });
    await eventually(async () => (await linkStatus(PAT).getAttribute('data-status')) === 'used', 'the console shows the link used');
    await eventually(async () => (await lastOnline(PAT)) === 'Online now', 'the console shows Pat online');
  });

  await step('a new browser context with only the saved storage opens Pat’s conversation again', async () => {
    patState = await pat.context().storageState();
    await pat.context().close();
    pat = await partyPage('Pat again', patState);
    await pat.goto(`${cfg.baseUrl}/join`);
    await pat.getByTestId('private-thread').getByText(BEFORE).waitFor();
    assert.equal(await pat.getByLabel('Keep me signed in on this device').isChecked(), true);
  });

  await step('without the choice, Quinn’s saved storage opens nothing, and the page says what to do', async () => {
    const quinn = await partyPage('Quinn');
    await join(quinn, links[QUINN]);
    await quinn.getByRole('button', { name: 'I understand' }).click();
    const state = await quinn.context().storageState();
    await quinn.context().close();
    await eventually(async () => /^Last online/.test(await lastOnline(QUINN)), 'the console shows when Quinn was last online');
    const again = await partyPage('Quinn again', state);
    await again.goto(`${cfg.baseUrl}/join`);
    await assertDeadEnd(again, 'no_link');
    await checkA11y(again, 'party: no link (dead end)');
    await again.goto('about:blank');
    await again.goto(links[QUINN]);
    await assertDeadEnd(again, 'used');
    assert.match(await ended(again).innerText(), /already been used/);
  });

  await step('the ombud gives Pat a new link; Pat’s open page says the link was replaced', async () => {
    await openThread(PAT);
    await column(PAT).getByRole('button', { name: 'New link' }).click();
    const dialog = ombud.getByTestId('new-link-dialog');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /keeps the whole conversation/);
    await checkA11y(ombud, 'console: new link dialog');
    await dialog.getByRole('button', { name: 'Create a new link' }).click();
    const input = column(PAT).locator('[data-testid="new-link-box"] [data-testid="invite-link"]');
    await input.waitFor();
    links.newPat = await input.inputValue();
    assert.notEqual(links.newPat, links[PAT]);
    assert.equal(await linkStatus(PAT).getAttribute('data-status'), 'replaced');
    assert.equal(await linkStatus(PAT).innerText(), 'New link, not used yet');
    await assertDeadEnd(pat, 'replaced');
    assert.match(await ended(pat).innerText(), /newer link/);
    await checkA11y(pat, 'party: link replaced (dead end)');
    await checkA11y(ombud, 'console: a party with a new link');
    await fs.mkdir(cfg.screenshots, { recursive: true });
    await ombud.screenshot({ path: path.join(cfg.screenshots, 'relink-console.png') });
    await pat.screenshot({ path: path.join(cfg.screenshots, 'relink-party-replaced.png'), fullPage: true });
    const kept = await pat.evaluate(() => localStorage.getItem('caucus.party'));
    assert.equal(kept, null, 'the void session is forgotten');
  });

  await step('the old link is refused; the new one brings Pat back to the whole thread', async () => {
    const stale = await partyPage('Pat, old link');
    await stale.goto(links[PAT]);
    await assertDeadEnd(stale, 'used');
    await join(pat, links.newPat);
    await pat.getByTestId('private-thread').getByText(BEFORE).waitFor();
    assert.equal(await pat.getByTestId('notice').isVisible(), false, 'the notice is not asked again');
    await pat.getByTestId('composer-input').fill(AFTER);
    await pat.getByRole('button', { name: 'Send', exact: true }).click();
    await column(PAT).locator('[data-testid="message"]', { hasText: AFTER }).waitFor();
    await eventually(async () => (await linkStatus(PAT).getAttribute('data-status')) === 'used', 'the console shows the new link used');
    assert.equal(await column(PAT).locator('[data-testid="message"]', { hasText: BEFORE }).count(), 1, 'one thread, not two');
  });

  await step('a reloaded console still shows link status and last online from the relay', async () => {
    await ombud.reload();
    await column(PAT).waitFor();
    await eventually(async () => (await linkStatus(PAT).getAttribute('data-status')) === 'used', 'Pat: used');
    assert.equal(await linkStatus(QUINN).getAttribute('data-status'), 'used');
    await eventually(async () => /^Last online/.test(await lastOnline(QUINN)), 'Quinn: last online, from the store');
  });

  await step('Pat signs out on this device', async () => {
    await pat.getByLabel('Keep me signed in on this device').check();
    assert.notEqual(await pat.evaluate(() => localStorage.getItem('caucus.party')), null);
    await pat.getByTestId('sign-out').click();
    const dialog = pat.getByTestId('sign-out-dialog');
    await dialog.waitFor();
    await checkA11y(pat, 'party: sign-out dialog');
    await dialog.getByRole('button', { name: 'Sign out', exact: true }).click();
    await assertDeadEnd(pat, 'signed_out');
    assert.equal(await pat.evaluate(() => localStorage.getItem('caucus.party')), null);
    assert.equal(await pat.evaluate(() => sessionStorage.getItem('caucus.party')), null);
    await pat.goto(`${cfg.baseUrl}/join`);
    await assertDeadEnd(pat, 'no_link');
  });

  await step('a session kept past the room’s retention end says the conversation has ended', async () => {
    const origins = patState.origins.map((o) => ({
      ...o,
      localStorage: o.localStorage.map((item) =>
        item.name === 'caucus.party' ? { ...item, value: JSON.stringify({ ...JSON.parse(item.value), expires_at: Date.now() - 1000 }) } : item,
      ),
    }));
    assert.ok(origins.some((o) => o.localStorage.some((i) => i.name === 'caucus.party')), 'the saved storage holds the session');
    const late = await partyPage('Pat, too late', { ...patState, origins });
    await late.goto(`${cfg.baseUrl}/join`);
    await ended(late).waitFor();
    assert.equal(await ended(late).getAttribute('data-kind'), 'retention');
    assert.match(await ended(late).innerText(), /contact their office/);
    assert.equal(await late.evaluate(() => localStorage.getItem('caucus.party')), null, 'forgotten');
  });

  await step('no page error, CSP violation or JavaScript dialog on any page', async () => {
    assert.deepEqual(pages.flatMap((p) => p.problems), []);
  });

  console.log(`${stepCount()} passed, 0 failed`);
} catch (err) {
  await reportFailure(err, 'relink', pages);
} finally {
  await browser.close();
}
