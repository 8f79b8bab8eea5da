// Ombuds signing in with their institution, in headless Chromium, against
// the real relay and a real OpenID provider (oidc-provider.mjs), both
// started by tests/tests/browser.rs.
//
// Ada (an ombud by her group claim) signs in from the console's "Sign in with
// Example University" button, lands in the console signed in, creates a room
// and renames herself; her new name survives signing in again. Grace signs in
// by her listed e-mail address. Then what must be refused, each with its own
// message on the console's sign-in page: a person the office does not map to
// an ombud, an ID token issued for another client, an ID token with another
// nonce, an attacker's callback replayed in another browser (state), a
// callback with no sign-in started (expired), a sign-in cancelled at the
// provider, and a grant cookie used twice. No session token ever appears in
// an address. A second relay with password sign-in turned off shows only the
// institution's button. Ada has a browser of her own; everyone after her
// takes turns in one whose cookies and storage are cleared before each
// (a new browser context costs a second of processor time).
//
// Run: CAUCUS_BASE_URL=http://127.0.0.1:18080 OIDC_ISSUER=http://localhost:18081 \
//      CAUCUS_NO_PASSWORD_URL=http://127.0.0.1:18082 node tests/browser/oidc-e2e.mjs

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { settings, launch, watchedPage, step, stepCount, repoRoot, checkA11y, reportFailure } from './lib.mjs';

const cfg = settings();
const issuer = process.env.OIDC_ISSUER;
const noPasswordUrl = process.env.CAUCUS_NO_PASSWORD_URL;
assert.ok(issuer && noPasswordUrl, 'OIDC_ISSUER and CAUCUS_NO_PASSWORD_URL must be set');
const INSTITUTION = 'Sign in with Example University';

const browser = await launch(cfg);
const pages = [];

/**
 * A fresh browser (its own cookies, so its own session at the provider).
 * Like every test browser (`launch`), it resolves no name but this
 * machine's: the provider's development pages would fetch a web font.
 */
async function freshPage(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await watchedPage(context, name);
  page.visited = [];
  page.on('request', (r) => page.visited.push(r.url()));
  pages.push(page);
  return page;
}

let cleared = null;
/**
 * One browser for the sign-ins that need no other at the same time: each
 * use starts with its cookies (so its session at the provider) and the
 * console's storage cleared, as a fresh browser would, for a fraction of
 * the processor time a new one takes.
 */
async function clearedPage() {
  if (!cleared) {
    cleared = await freshPage('a cleared browser');
    return cleared;
  }
  if (/^https?:/.test(cleared.url())) {
    await cleared.evaluate(() => {
      sessionStorage.clear();
      localStorage.clear();
    });
  }
  await cleared.context().clearCookies();
  await cleared.goto('about:blank');
  cleared.visited.length = 0;
  return cleared;
}

/** At the provider's development login page: sign in as `login`, and consent. */
async function atProvider(page, login) {
  await page.waitForURL((u) => u.href.startsWith(issuer));
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password will do');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
}

/** From the console's sign-in page, through the provider, back to the console. */
async function institutionSignIn(page, login) {
  await page.goto(`${cfg.baseUrl}/`);
  await page.getByRole('button', { name: INSTITUTION }).click();
  await atProvider(page, login);
  await page.waitForURL((u) => u.href.startsWith(cfg.baseUrl));
}

async function refusedWith(page, pattern) {
  const error = page.getByTestId('signin-error');
  await error.waitFor();
  assert.match(await error.innerText(), pattern);
  // Not a dead end: the way to try again is right there, and the address
  // holds no leftover fragment.
  await page.getByRole('button', { name: INSTITUTION }).waitFor();
  assert.equal(new URL(page.url()).hash, '');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('caucus.ombud')), null);
}

const token = (page) => page.evaluate(() => JSON.parse(sessionStorage.getItem('caucus.ombud') || '{}').token);

try {
  const ada = await freshPage('ada');

  await step('the sign-in page offers the institution beside the password form', async () => {
    await ada.goto(`${cfg.baseUrl}/`);
    await ada.getByRole('button', { name: INSTITUTION }).waitFor();
    assert.equal(await ada.getByLabel('Password', { exact: true }).isVisible(), true);
    await checkA11y(ada, 'console: sign-in page with an institution');
  });

  let grantCookie = null;
  await step('Ada signs in with her institution and lands in the console', async () => {
    // Hold the console's exchange a moment to keep a copy of the one-time
    // grant cookie (HttpOnly: only the test's cookie jar can read it).
    await ada.route('**/api/oidc/session', async (route) => {
      const cookies = await ada.context().cookies(`${cfg.baseUrl}/api/oidc/session`);
      grantCookie = cookies.find((c) => c.name === 'caucus_oidc_grant');
      await route.continue();
    });
    await ada.getByRole('button', { name: INSTITUTION }).click();
    await atProvider(ada, 'ada');
    await ada.getByRole('heading', { name: 'Rooms' }).waitFor();
    assert.equal(await ada.getByTestId('whoami').innerText(), 'Signed in as Dr. Ada Lovelace');
    assert.equal(new URL(ada.url()).hash, '', 'the #/signin/done fragment is gone');
    const session = await token(ada);
    assert.ok(session, 'the console holds a session');
    assert.ok(grantCookie, 'the relay set a grant cookie');
    assert.equal(grantCookie.httpOnly, true);
    assert.equal(grantCookie.sameSite, 'Lax');
    for (const url of ada.visited) {
      assert.ok(!url.includes(session), `a session token was in an address: ${url}`);
    }
  });

  await step('a grant cookie works once only', async () => {
    const replay = await ada.context().request.post(`${cfg.baseUrl}/api/oidc/session`, {
      headers: { cookie: `caucus_oidc_grant=${grantCookie.value}` },
    });
    assert.equal(replay.status(), 401);
    assert.match((await replay.json()).message, /already been used/);
  });

  await step('Ada, signed in by her institution, creates a room', async () => {
    await ada.getByLabel('Title').fill('Lab scheduling disagreement');
    await ada.getByRole('button', { name: 'Create room' }).click();
    // The heading says "Loading…" until the room's first frame arrives.
    await ada.getByTestId('room-heading').filter({ hasText: 'Lab scheduling disagreement' }).waitFor();
    await ada.getByTestId('nav-rooms').click();
    await ada.getByTestId('room-list').getByText('Lab scheduling disagreement').waitFor();
  });

  await step('Ada sets the name parties see, and signing in again keeps it', async () => {
    const field = ada.getByLabel('Name parties see');
    assert.equal(await field.inputValue(), 'Dr. Ada Lovelace');
    await field.fill('Ada (Ombuds Office)');
    await ada.getByRole('button', { name: 'Save name' }).click();
    await ada.getByTestId('profile-saved').waitFor();
    assert.equal(await ada.getByTestId('whoami').innerText(), 'Signed in as Ada (Ombuds Office)');
    await ada.getByTestId('logout').click();
    await ada.getByRole('button', { name: INSTITUTION }).click();
    // Still signed in at the provider, with consent given: straight back.
    await ada.getByRole('heading', { name: 'Rooms' }).waitFor();
    assert.equal(await ada.getByTestId('whoami').innerText(), 'Signed in as Ada (Ombuds Office)');
    assert.equal(await ada.getByLabel('Name parties see').inputValue(), 'Ada (Ombuds Office)');
    await checkA11y(ada, 'console: signed in by the institution, profile');
    await fs.mkdir(cfg.screenshots, { recursive: true });
    await ada.screenshot({ path: path.join(cfg.screenshots, 'oidc-console.png') });
  });

  await step('someone the office does not map to an ombud is refused', async () => {
    const sam = await clearedPage();
    await institutionSignIn(sam, 'sam');
    await refusedWith(sam, /not registered as an ombud here/);
    await checkA11y(sam, 'console: institution sign-in refused');
    await fs.mkdir(cfg.screenshots, { recursive: true });
    await sam.screenshot({ path: path.join(cfg.screenshots, 'oidc-refused.png') });
  });

  await step('an ID token issued for another client is refused (audience)', async () => {
    const page = await clearedPage();
    await institutionSignIn(page, 'aud-trick');
    await refusedWith(page, /meant for another application \(wrong audience\)/);
  });

  await step('an ID token with another nonce is refused', async () => {
    const page = await clearedPage();
    await institutionSignIn(page, 'nonce-trick');
    await refusedWith(page, /the nonce check failed/);
  });

  await step("an attacker's callback opened in another browser is refused (state)", async () => {
    // The attacker signs in and keeps the callback address it came back to.
    const attacker = await clearedPage();
    await institutionSignIn(attacker, 'ada');
    await attacker.getByRole('heading', { name: 'Rooms' }).waitFor();
    const callback = attacker.visited.find((u) => u.startsWith(`${cfg.baseUrl}/api/oidc/callback?`));
    assert.ok(callback && callback.includes('state='), 'the callback was seen');
    // The victim has started a sign-in of its own, then follows the link.
    // Another browser: nothing of the attacker's is left in this one.
    const victim = await clearedPage();
    await victim.goto(`${cfg.baseUrl}/`);
    await victim.getByRole('button', { name: INSTITUTION }).click();
    await victim.waitForURL((u) => u.href.startsWith(issuer));
    await victim.goto(callback);
    await refusedWith(victim, /the state check failed/);
    // With no sign-in started at all, the callback is simply too late.
    const stranger = await clearedPage();
    await stranger.goto(callback);
    await refusedWith(stranger, /took too long, or was started in another window/);
  });

  await step('a sign-in cancelled at the provider says so', async () => {
    const page = await clearedPage();
    await page.goto(`${cfg.baseUrl}/`);
    await page.getByRole('button', { name: INSTITUTION }).click();
    await page.waitForURL((u) => u.href.startsWith(issuer));
    await page.getByRole('link', { name: '[ Cancel ]' }).click();
    await refusedWith(page, /did not complete: it was cancelled or refused/);
  });

  await step('with password sign-in off, the console offers only the institution', async () => {
    const page = await clearedPage();
    await page.goto(`${noPasswordUrl}/`);
    await page.getByRole('button', { name: INSTITUTION }).waitFor();
    assert.equal(await page.getByTestId('login-form').isVisible(), false);
    await checkA11y(page, 'console: institution sign-in only');
    await fs.mkdir(cfg.screenshots, { recursive: true });
    await page.screenshot({ path: path.join(cfg.screenshots, 'oidc-sign-in.png') });
  });

  await step('Grace signs in by her listed e-mail address', async () => {
    const grace = await clearedPage();
    await institutionSignIn(grace, 'grace');
    await grace.getByRole('heading', { name: 'Rooms' }).waitFor();
    assert.equal(await grace.getByTestId('whoami').innerText(), 'Signed in as Grace Hopper');
  });

  await step('no page error, CSP violation or JavaScript dialog on any page', async () => {
    assert.deepEqual(pages.flatMap((p) => p.problems), []);
  });

  console.log(`${stepCount()} passed, 0 failed`);
} catch (err) {
  await reportFailure(err, 'oidc-e2e', pages);
} finally {
  await browser.close();
}
