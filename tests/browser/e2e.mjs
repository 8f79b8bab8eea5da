// The web client end to end, in headless Chromium, against the real relay.
//
// Three browser contexts act as people would: the ombud signs in, creates a
// room and invites two parties; both join from their links and acknowledge
// the office notice; party A writes a message containing a secret phrase;
// the ombud asks for redaction suggestions on another message, redacts the
// phrase and relays the message to B; A approves; B sees the relayed text,
// and neither B's page nor any websocket frame B received ever contained the
// phrase. Then edits, a reload, markup shown as text, a referral, the joint
// session, categories and the trends chart, leaving, and closing the room.
// (A party's dropped and silent connections are connection.mjs's.)
//
// Run: CAUCUS_BASE_URL=http://127.0.0.1:18080 CAUCUS_OMBUD_USER=ombud \
//      CAUCUS_OMBUD_PASSWORD=secret-pass node tests/browser/e2e.mjs
// (add CAUCUS_PARTY_BASE_URL=http://127.0.0.1:18081, a second relay of the
// same deployment, to put the parties on it: tests/tests/redis/browser.rs)

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { settings, partyUrl, launch, watchedPage, eventually, step, stepCount, checkA11y, reportFailure } from './lib.mjs';

const cfg = settings();

const NAME_A = 'Zoë Martín';
const NAME_B = 'Ben Okafor';
const SECRET = 'harbour-lights-4471';
const SECRET_MESSAGE = `My manager mentioned the ${SECRET} file to me on Monday, and I would like an apology for how it was handled.`;
const PII_MESSAGE = '😀 Zoë Martín here: write to zoë@exämple.org or call +44 20 7946 0958 🎉 when you can.';
const PII_EXPECTED = [
  { text: 'Zoë Martín', kind: 'name' },
  { text: 'zoë@exämple.org', kind: 'email' },
  { text: '+44 20 7946 0958', kind: 'phone' },
];
const XSS = '<img src=x onerror=alert(1)>';
const EDITED_SUFFIX = ' (The ombud clarified: this happened last week.)';
const PRIVATE_NOTE = 'Just for you: I am thinking of leaving the team.';

const browser = await launch(cfg);
const ombudContext = await browser.newContext({ viewport: { width: 1440, height: 960 } });
const partyOptions = { viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const aContext = await browser.newContext(partyOptions);
const bContext = await browser.newContext(partyOptions);

const ombud = await watchedPage(ombudContext, 'ombud');
const partyA = await watchedPage(aContext, 'party A');
const partyB = await watchedPage(bContext, 'party B');

// When the ombud's and A's pages last sent a typing notice.
const typingSent = new Map();
for (const page of [ombud, partyA]) {
  page.on('websocket', (ws) => {
    ws.on('framesent', (frame) => {
      if (typeof frame.payload === 'string' && frame.payload.includes('"type":"typing"')) typingSent.set(page, Date.now());
    });
  });
}

/**
 * Type `text` into `input` so that its last key sends a typing notice
 * (pages send one a second at most): the other side's typing line is then
 * fresh when the message that follows arrives, however slow the machine.
 */
async function typeWithFreshNotice(page, input, text) {
  await input.pressSequentially(text.slice(0, -1), { delay: 40 });
  const since = Date.now() - (typingSent.get(page) || 0);
  if (since < 1050) await new Promise((r) => setTimeout(r, 1050 - since));
  await input.pressSequentially(text.slice(-1));
}

// Every websocket frame B's browser receives, across reloads.
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
const privateThread = (page) => page.locator('[data-testid="private-thread"]');

let links = {};
let redactedBody = '';

async function bodyTexts(page) {
  return page.locator('[data-testid="private-thread"] [data-testid="message-body"]').allInnerTexts();
}

try {
  await step('the ombud signs in', async () => {
    await ombud.goto(`${cfg.baseUrl}/`);
    await checkA11y(ombud, 'console: sign-in page');
    await ombud.getByLabel('Username', { exact: true }).fill(cfg.username);
    await ombud.getByLabel('Password', { exact: true }).fill(cfg.password);
    await ombud.getByRole('button', { name: 'Sign in' }).click();
    await ombud.getByRole('heading', { name: 'Rooms' }).waitFor();
    await checkA11y(ombud, 'console: room list');
  });

  await step('the ombud creates a room that needs consent', async () => {
    await ombud.getByLabel('Title').fill('Workplace concern, spring');
    assert.equal(await ombud.getByTestId('room-consent').isChecked(), true);
    await ombud.getByRole('button', { name: 'Create room' }).click();
    await ombud.getByTestId('room-heading').filter({ hasText: 'Workplace concern, spring' }).waitFor();
    await ombud.getByTestId('connection-status').and(ombud.locator('[data-state="online"]')).waitFor();
    await checkA11y(ombud, 'console: a new room, invitation panel open');
  });

  await step('the ombud invites two parties and gets their links', async () => {
    for (const name of [NAME_A, NAME_B]) {
      await ombud.getByLabel('Name the party will be shown as').fill(name);
      await ombud.getByRole('button', { name: 'Create invitation link' }).click();
      const link = ombud.locator(`[data-testid="invite-link"][data-name="${name}"]`);
      await link.waitFor();
      links[name] = await link.inputValue();
      // The console's links name the relay it was opened on, whichever
      // relay the parties then open them on (CAUCUS_PARTY_BASE_URL).
      assert.match(links[name], new RegExp(`^${cfg.baseUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/join#.+`));
      await column(name).waitFor();
    }
  });

  for (const [page, name] of [[partyA, NAME_A], [partyB, NAME_B]]) {
    await step(`${name} joins from the link and must acknowledge the notice before writing`, async () => {
      await page.goto(partyUrl(cfg, links[name]));
      assert.equal(new URL(page.url()).origin, new URL(cfg.partyBaseUrl).origin, `${name}'s page is on the parties' relay`);
      const notice = page.getByTestId('notice');
      await notice.waitFor();
      assert.ok((await page.getByTestId('notice-text').innerText()).length > 20, 'the notice text is shown');
      if (page === partyA) await checkA11y(page, 'party: office notice');
      assert.ok((await page.getByTestId('notice-office').innerText()).trim().length > 0, 'the office name is shown');
      assert.equal(await page.getByTestId('composer-input').isDisabled(), true, 'cannot write before acknowledging');
      assert.ok(!page.url().includes('#'), 'the spent invite code is removed from the address bar');
      await page.getByRole('button', { name: 'I understand' }).click();
      await notice.waitFor({ state: 'hidden' });
      assert.equal(await page.getByTestId('composer-input').isEnabled(), true);
      await eventually(
        async () => /acknowledged/.test(await column(name).innerText()),
        `the ombud sees that ${name} acknowledged the notice`,
      );
    });
  }

  await step('the ombud sees presence and typing, and the typing line expires quickly', async () => {
    await openThread(NAME_A);
    await eventually(async () => (await column(NAME_A).getByTestId('presence').innerText()).startsWith('Online'), 'A online');
    await partyA.getByTestId('composer-input').pressSequentially('Hel');
    await eventually(async () => /Zoë Martín is typing/.test(await column(NAME_A).getByTestId('typing').innerText()), 'typing indicator');
    const stopped = Date.now();
    await eventually(async () => (await column(NAME_A).getByTestId('typing').innerText()) === '', 'the typing line clears once A stops', 4000);
    // One notice at "H", shown 1.8 s: gone well before the old 5 s.
    assert.ok(Date.now() - stopped < 3000, `typing line lingered ${Date.now() - stopped} ms after A stopped`);
    await partyA.getByTestId('composer-input').fill('');
  });

  await step("typing lines clear the moment that person's message arrives, on both sides", async () => {
    // Each page records the typing line's text at the moment the message
    // appears, and when that line was last (re)drawn by a typing notice.
    const watch = (page, typingSel, threadSel, text) =>
      page.evaluate(({ typingSel, threadSel, text }) => {
        const typingEl = document.querySelector(typingSel);
        const threadEl = document.querySelector(threadSel);
        window.__typingWatch = { lastShown: 0, atArrival: null, sinceShown: null };
        new MutationObserver(() => {
          if (typingEl.textContent) window.__typingWatch.lastShown = Date.now();
        }).observe(typingEl, { childList: true, characterData: true, subtree: true });
        new MutationObserver(() => {
          const w = window.__typingWatch;
          if (w.atArrival !== null) return;
          const arrived = [...threadEl.querySelectorAll('[data-message-id] [data-testid="message-body"]')].some((b) => b.textContent === text);
          if (arrived) {
            w.atArrival = typingEl.textContent;
            w.sinceShown = Date.now() - w.lastShown;
          }
        }).observe(threadEl, { childList: true, subtree: true });
      }, { typingSel, threadSel, text });
    const check = async (page, who) => {
      const w = await eventually(() => page.evaluate(() => window.__typingWatch.atArrival !== null && window.__typingWatch), `${who}: the message arrives`);
      assert.ok(w.lastShown > 0, `${who}: the typing line was shown`);
      assert.equal(w.atArrival, '', `${who}: the typing line is empty when the message arrives`);
      assert.ok(w.sinceShown < 1800, `${who}: cleared by the message, not by expiry (${w.sinceShown} ms after the last notice)`);
    };
    const fromA = 'Typing and sending at once.';
    await watch(ombud, `[data-testid="column"][data-name="${NAME_A}"] [data-testid="typing"]`, `[data-testid="column"][data-name="${NAME_A}"]`, fromA);
    await typeWithFreshNotice(partyA, partyA.getByTestId('composer-input'), fromA);
    await partyA.getByRole('button', { name: 'Send', exact: true }).click();
    await check(ombud, 'ombud');
    const fromOmbud = 'Thank you, I am reading it now.';
    await watch(partyA, '#private-typing', '[data-testid="private-thread"]', fromOmbud);
    const composer = column(NAME_A).getByTestId('composer-input');
    await typeWithFreshNotice(ombud, composer, fromOmbud);
    await composer.press('Control+Enter');
    await check(partyA, 'party A');
  });

  await step('party A writes a message containing a secret phrase, and sees it go from sending to sent', async () => {
    await partyA.evaluate(() => {
      window.__states = [];
      const thread = document.querySelector('[data-testid="private-thread"]');
      new MutationObserver(() => {
        for (const li of thread.querySelectorAll('[data-testid="message"].mine')) {
          const s = `${li.dataset.state}:${li.querySelector('[data-testid="message-state"]')?.textContent.trim()}`;
          if (li.textContent.includes('harbour-lights') && window.__states.at(-1) !== s) window.__states.push(s);
        }
      }).observe(thread, { childList: true, subtree: true, attributes: true });
    });
    await partyA.getByTestId('composer-input').fill(SECRET_MESSAGE);
    await partyA.getByRole('button', { name: 'Send', exact: true }).click();
    await messageIn(privateThread(partyA), SECRET).and(partyA.locator('[data-state="sent"]')).waitFor();
    const states = await partyA.evaluate(() => window.__states);
    assert.deepEqual([states[0], states.at(-1)], ['sending:Sending…', 'sent:Sent'], `states seen: ${states.join(' → ')}`);
    await messageIn(privateThread(partyA), SECRET).locator('time').waitFor();
    await messageIn(column(NAME_A), SECRET).waitFor();
  });

  await step('redaction suggestions land exactly on the name, e-mail and phone number (UTF-16, emoji)', async () => {
    await partyA.getByTestId('composer-input').fill(PII_MESSAGE);
    await partyA.getByRole('button', { name: 'Send', exact: true }).click();
    const msg = messageIn(column(NAME_A), 'exämple');
    await msg.waitFor();
    await msg.getByRole('button', { name: 'Relay to…' }).click();
    const editor = ombud.getByTestId('relay-pane');
    await editor.waitFor();
    await editor.getByRole('button', { name: 'Suggest redactions' }).click();
    await checkA11y(ombud, 'console: relay editor pane with suggestions');
    const suggestions = editor.getByTestId('suggestion');
    await eventually(async () => (await suggestions.count()) === PII_EXPECTED.length, 'three suggestions');
    const found = [];
    for (let i = 0; i < PII_EXPECTED.length; i += 1) {
      const s = suggestions.nth(i);
      found.push({ text: await s.getByTestId('suggestion-text').innerText(), kind: await s.getAttribute('data-kind') });
      const start = Number(await s.getAttribute('data-start'));
      const end = Number(await s.getAttribute('data-end'));
      assert.equal(PII_MESSAGE.slice(start, end), PII_EXPECTED[i].text, 'offsets are UTF-16 into the original');
    }
    assert.deepEqual(found, PII_EXPECTED);
    // Nothing is redacted until the ombud clicks.
    assert.equal(await editor.getByTestId('relay-preview').innerText(), PII_MESSAGE);
    await suggestions.nth(1).click();
    const preview = await editor.getByTestId('relay-preview').innerText();
    assert.equal(preview, PII_MESSAGE.replace('zoë@exämple.org', '█████'));
    assert.equal(await editor.getByTestId('relay-text').inputValue(), preview, 'the preview is exactly the text to send');
    await editor.getByRole('button', { name: 'Cancel' }).click();
    await editor.waitFor({ state: 'hidden' });
  });

  await step('the ombud redacts the secret phrase and sends the relay to B for consent', async () => {
    const msg = messageIn(column(NAME_A), SECRET);
    await msg.getByRole('button', { name: 'Relay to…' }).click();
    const editor = ombud.getByTestId('relay-pane');
    await editor.waitFor();
    const text = editor.getByTestId('relay-text');
    assert.equal(await text.inputValue(), SECRET_MESSAGE, 'the editor starts from the original text');
    // Select the phrase, as a person would by dragging over it.
    await text.evaluate((el, phrase) => {
      const at = el.value.indexOf(phrase);
      el.focus();
      el.setSelectionRange(at, at + phrase.length);
    }, SECRET);
    await editor.getByRole('button', { name: 'Redact selection' }).click();
    redactedBody = SECRET_MESSAGE.replace(SECRET, '█████');
    assert.equal(await text.inputValue(), redactedBody);
    assert.equal(await editor.getByTestId('relay-preview').innerText(), redactedBody);
    assert.equal(await editor.getByTestId('relay-preview-label').innerText(), `Relayed by the ombud from ${NAME_A}`);
    const recipients = editor.getByTestId('relay-recipient');
    assert.equal(await recipients.count(), 1, 'only the other party can be chosen');
    assert.equal(await recipients.first().getAttribute('data-name'), NAME_B);
    assert.equal(await recipients.first().isChecked(), true);
    await editor.getByRole('button', { name: 'Send for consent' }).click();
    await editor.waitFor({ state: 'hidden' });
    const status = msg.getByTestId('forward-status');
    await eventually(async () => (await status.innerText()) === `Waiting for ${NAME_A}’s consent`, 'awaiting consent status');
  });

  await step('party A sees the exact text in a consent card and approves', async () => {
    const card = partyA.getByTestId('consent-card');
    await card.waitFor();
    assert.equal(await card.getByTestId('consent-body').innerText(), redactedBody);
    assert.equal(await card.getByTestId('consent-to').innerText(), NAME_B);
    await checkA11y(partyA, 'party: consent card');
    await card.getByRole('button', { name: 'Approve' }).click();
    await eventually(async () => (await card.getAttribute('data-state')) === 'approved', 'card shows approved');
  });

  await step('B sees the relayed text without the phrase; the ombud sees it delivered', async () => {
    const relayed = partyB.locator('[data-testid="message"].relayed');
    await relayed.waitFor();
    assert.equal(await relayed.getByTestId('message-body').innerText(), redactedBody);
    assert.equal(await relayed.getByTestId('relayed-label').innerText(), `Relayed by the ombud from ${NAME_A}`);
    const status = messageIn(column(NAME_A), SECRET).getByTestId('forward-status');
    await eventually(async () => (await status.innerText()) === 'Delivered', 'delivered status');
    await checkA11y(partyB, 'party: a relayed message');
    await checkA11y(ombud, 'console: threads with messages and a delivered relay');
  });

  await step('the ombud edits the relayed message, A approves the change, B sees the edit', async () => {
    const copy = (await openThread(NAME_B)).locator('[data-testid="message"].relayed');
    await copy.waitFor();
    await copy.getByRole('button', { name: 'Edit' }).click();
    const editor = ombud.getByTestId('relay-pane');
    await editor.waitFor();
    const text = editor.getByTestId('relay-text');
    assert.equal(await text.inputValue(), redactedBody);
    await text.press('Control+End');
    await text.pressSequentially(EDITED_SUFFIX);
    assert.equal(await editor.getByTestId('relay-preview').innerText(), redactedBody + EDITED_SUFFIX);
    await editor.getByRole('button', { name: 'Send change for consent' }).click();
    await editor.waitFor({ state: 'hidden' });
    await copy.getByTestId('edit-pending').waitFor();

    // In a consent room the change is a new revision A must approve first.
    const card = partyA.locator('[data-testid="consent-card"][data-state="pending"]');
    await card.waitFor();
    assert.equal(await card.getByTestId('consent-body').innerText(), redactedBody + EDITED_SUFFIX);
    assert.match(await card.innerText(), /change a message/);
    assert.equal(
      await partyB.locator('[data-testid="message"].relayed [data-testid="message-body"]').innerText(),
      redactedBody,
      'B still sees the approved text until A approves the change',
    );
    await card.getByRole('button', { name: 'Approve' }).click();
    await copy.getByTestId('edit-pending').waitFor({ state: 'detached' });
    const relayed = partyB.locator('[data-testid="message"].relayed');
    await eventually(
      async () => (await relayed.getByTestId('message-body').innerText()) === redactedBody + EDITED_SUFFIX,
      'B sees the edited text',
    );
    await relayed.getByTestId('edited').waitFor();
  });

  await step('a screenshot of a party page at 375 px', async () => {
    await fs.mkdir(cfg.screenshots, { recursive: true });
    // The console's picture, with six parties, is console.mjs's.
    await partyA.evaluate(() => window.scrollTo(0, 0));
    await partyA.screenshot({ path: path.join(cfg.screenshots, 'party.png') });
  });

  await step('the party page on a phone: one scroll, composer at the bottom, no keyboard hint, Leave apart', async () => {
    // Shorter than the thread, so "stays at the bottom" means something.
    await partyA.setViewportSize({ width: 375, height: 560 });
    try {
      const layout = await partyA.evaluate(() => {
        const boxes = [...document.querySelectorAll('body *')].filter((el) => {
          const oy = getComputedStyle(el).overflowY;
          return el.tagName !== 'TEXTAREA' && (oy === 'auto' || oy === 'scroll') && el.scrollHeight > el.clientHeight + 1;
        });
        const panel = document.querySelector('[data-testid="private-thread"]');
        // Read the middle of the thread, as someone scrolling back would.
        window.scrollTo(0, panel.getBoundingClientRect().top + window.scrollY + 80);
        const composer = panel.querySelector('[data-testid="composer"]').getBoundingClientRect();
        window.scrollTo(0, 0);
        const title = document.querySelector('#private-title').getBoundingClientRect();
        // Visible words of the page itself, not what people wrote.
        const chrome = document.body.cloneNode(true);
        for (const el of chrome.querySelectorAll('.messages, #notice-text')) el.remove();
        return {
          scrollBoxes: boxes.map((el) => el.id || el.className),
          panelTaller: panel.getBoundingClientRect().height > window.innerHeight,
          composerBottom: composer.bottom,
          viewport: window.innerHeight,
          titleTop: title.top,
          coarse: matchMedia('(pointer: coarse)').matches,
          chromeText: chrome.textContent,
        };
      });
      assert.deepEqual(layout.scrollBoxes, [], 'nothing scrolls inside the page');
      assert.ok(layout.panelTaller, 'the thread is taller than the screen for this check');
      assert.ok(Math.abs(layout.composerBottom - layout.viewport) < 2, `composer at the bottom of the screen (${layout.composerBottom} of ${layout.viewport})`);
      assert.ok(layout.titleTop >= 0, "the thread's top is not cut off");
      assert.ok(layout.coarse, 'the phone context has a touch pointer');
      assert.doesNotMatch(await partyA.locator('body').innerText(), /Ctrl\+Enter/, 'no keyboard hint on a touch screen');
      assert.equal(await partyA.getByTestId('composer-input').getAttribute('aria-describedby'), null);
      assert.doesNotMatch(layout.chromeText, /['"]/, 'apostrophes and quotes are typographic throughout');
      // Leave is in its own panel, after everything else, away from the transcript.
      const actions = partyA.locator('.actions-panel');
      assert.equal(await actions.getByTestId('leave').count(), 0, 'Leave is not among the transcript buttons');
      await actions.getByRole('button', { name: 'Download as plain text' }).waitFor();
      const leave = partyA.getByTestId('leave-panel');
      assert.ok(await leave.evaluate((el) => el === el.parentElement.lastElementChild), 'Leave comes last');
      // Leaving asks first; staying changes nothing.
      await leave.getByRole('button', { name: /Leave the conversation/ }).click();
      const dialog = partyA.getByTestId('leave-dialog');
      await dialog.waitFor();
      assert.ok(await dialog.evaluate((d) => d.contains(document.activeElement)), 'focus moves into the dialog');
      assert.equal(await partyA.evaluate(() => document.activeElement.textContent), 'Stay', 'the safe choice has the focus');
      await checkA11y(partyA, 'party (phone): leave confirmation dialog');
      await dialog.getByRole('button', { name: 'Stay' }).click();
      await dialog.waitFor({ state: 'hidden' });
      assert.equal(await partyA.evaluate(() => document.activeElement.dataset.testid), 'leave', 'focus returns to the Leave button');
      await partyA.getByTestId('connection-status').and(partyA.locator('[data-state="online"]')).waitFor();
      await partyA.evaluate(() => window.scrollTo(0, document.querySelector('#private-title').getBoundingClientRect().top + window.scrollY + 120));
      await partyA.screenshot({ path: path.join(cfg.screenshots, 'party-phone.png') });
    } finally {
      await partyA.setViewportSize({ width: 375, height: 812 });
    }
  });

  await step('a message marked "Do not share" cannot be relayed', async () => {
    await partyA.getByTestId('composer-input').fill(PRIVATE_NOTE);
    await partyA.getByLabel(/Do not share/).check();
    await partyA.getByRole('button', { name: 'Send', exact: true }).click();
    const own = messageIn(privateThread(partyA), PRIVATE_NOTE);
    await own.locator('time').waitFor();
    await own.getByTestId('not-shared').waitFor();
    const seen = messageIn(await openThread(NAME_A), PRIVATE_NOTE);
    await seen.getByTestId('not-shared').waitFor();
    assert.equal(await seen.getByRole('button', { name: 'Relay to…' }).count(), 0);
  });

  await step('the ombud withdraws a relay awaiting consent, and A declines another', async () => {
    const msg = messageIn(column(NAME_A), 'exämple');
    const editor = ombud.getByTestId('relay-pane');
    await msg.getByRole('button', { name: 'Relay to…' }).click();
    await editor.getByRole('button', { name: 'Send for consent' }).click();
    await editor.waitFor({ state: 'hidden' });
    const first = msg.getByTestId('forward').first();
    await first.getByRole('button', { name: 'Withdraw' }).click();
    await eventually(async () => (await first.getByTestId('forward-status').innerText()) === 'Withdrawn', 'withdrawn status');
    const card = partyA.getByTestId('consent-card').filter({ hasText: 'exämple' });
    await eventually(async () => (await card.getAttribute('data-state')) === 'withdrawn', "A's card says withdrawn");

    await msg.getByRole('button', { name: 'Relay to…' }).click();
    await editor.getByRole('button', { name: 'Send for consent' }).click();
    await editor.waitFor({ state: 'hidden' });
    await partyA.locator('[data-testid="consent-card"][data-state="pending"]').getByRole('button', { name: 'Decline' }).click();
    const second = msg.getByTestId('forward').nth(1);
    await eventually(async () => (await second.getByTestId('forward-status').innerText()) === `Declined by ${NAME_A}`, 'declined status');
    assert.equal(await messageIn(privateThread(partyB), 'exämple').count(), 0, 'B received neither');
  });

  await step('markup in a message is shown as text and runs nothing', async () => {
    await partyB.getByTestId('composer-input').fill(XSS);
    await partyB.getByRole('button', { name: 'Send', exact: true }).click();
    const own = messageIn(privateThread(partyB), 'onerror');
    await own.locator('time').waitFor();
    assert.equal(await own.getByTestId('message-body').innerText(), XSS);
    const inConsole = messageIn(await openThread(NAME_B), 'onerror');
    await inConsole.waitFor();
    assert.equal(await inConsole.getByTestId('message-body').innerText(), XSS);
    assert.equal(await partyB.locator('[data-testid="private-thread"] img').count(), 0);
    assert.equal(await ombud.locator('[data-testid="columns"] img').count(), 0);
  });

  await step("A downloads a transcript of A's own view, and nothing of B's thread", async () => {
    const [download] = await Promise.all([
      partyA.waitForEvent('download'),
      partyA.getByRole('button', { name: 'Download as a web page' }).click(),
    ]);
    const html = await fs.readFile(await download.path(), 'utf8');
    assert.ok(html.includes(SECRET), "A's own words are in A's transcript");
    assert.ok(!html.includes('onerror'), "B's private message is not");
  });

  await step('a referral reaches A as a resource card', async () => {
    await ombud.getByText('Send a resource', { exact: true }).click();
    await ombud.getByTestId('refer-party').selectOption({ label: NAME_A });
    await ombud.getByRole('button', { name: 'Send resource' }).click();
    const card = privateThread(partyA).getByTestId('resource-card');
    await card.waitFor();
    assert.ok((await card.getByTestId('resource-link').getAttribute('href')).startsWith('http'));
  });

  await step('the joint session opens for both parties and closes again', async () => {
    await ombud.getByRole('button', { name: 'Open joint session' }).click();
    await partyA.getByTestId('joint-thread').waitFor();
    await partyB.getByTestId('joint-thread').waitFor();
    await partyA.getByTestId('joint-input').fill('Thank you both for being here.');
    await partyA.getByRole('button', { name: 'Send to everyone' }).click();
    await messageIn(partyB.getByTestId('joint-thread'), 'Thank you both').waitFor();
    await ombud.getByRole('button', { name: 'Close joint session' }).click();
    await partyB.getByTestId('joint-composer').waitFor({ state: 'hidden' });
  });

  await step("B's page reloaded mid-session shows the same thread", async () => {
    const before = await bodyTexts(partyB);
    assert.ok(before.length >= 2);
    await partyB.reload();
    await partyB.getByTestId('connection-status').and(partyB.locator('[data-state="online"]')).waitFor();
    await eventually(async () => (await bodyTexts(partyB)).length === before.length, 'the thread is rebuilt');
    assert.deepEqual(await bodyTexts(partyB), before);
    await partyB.getByTestId('notice').waitFor({ state: 'hidden' });
    assert.equal(await partyB.getByTestId('composer-input').isEnabled(), true, 'no second notice after a reload');
    assert.equal(await partyB.locator('[data-testid="message"].relayed [data-testid="edited"]').count(), 1);
  });

  await step("neither B's page nor any frame B received ever contained the secret phrase", async () => {
    const text = await partyB.locator('body').innerText();
    const html = await partyB.content();
    assert.ok(!text.includes(SECRET) && !html.includes(SECRET), "B's page never shows the phrase");
    assert.ok(framesB.length > 5, `frames were captured (${framesB.length})`);
    assert.ok(framesB.some((f) => f.includes('█████')), 'the capture saw the relayed text');
    const leaking = framesB.filter((f) => f.includes(SECRET) || f.includes('harbour-lights'));
    assert.deepEqual(leaking, [], 'no frame B received contained the phrase');
  });

  await step('the ombud tags the room and the trends chart renders', async () => {
    await ombud.getByText('Categories and sensitive terms', { exact: true }).click();
    const box = ombud.getByTestId('category').first();
    const category = await box.getAttribute('value');
    await box.check();
    await ombud.getByRole('button', { name: 'Save categories' }).click();
    await eventually(async () => /Saved/.test(await ombud.locator('#categories-status').innerText()), 'categories saved');

    await ombud.getByRole('link', { name: 'Trends' }).click();
    const chart = ombud.getByTestId('trends-chart');
    await chart.waitFor();
    const bar = chart.locator(`[data-testid="trends-bar"][data-category="${category}"]`);
    assert.ok((await bar.count()) >= 1, 'a bar for the tagged category');
    await checkA11y(ombud, 'console: trends');
    const labels = await chart.getByTestId('trends-bar-label').allTextContents();
    assert.ok(labels.some((l) => /^<\d+$/.test(l)), `a small count is shown as <threshold (${labels.join(', ')})`);
    await ombud.getByRole('link', { name: 'Rooms' }).click();
    await ombud.getByTestId('room-link').first().click();
    await ombud.getByTestId('connection-status').and(ombud.locator('[data-state="online"]')).waitFor();
  });

  await step('B leaves after confirming; the ombud sees it', async () => {
    await partyB.getByRole('button', { name: 'Leave' }).click();
    const dialog = partyB.getByTestId('leave-dialog');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Leave' }).click();
    await partyB.getByTestId('ended').waitFor();
    await checkA11y(partyB, 'party: left, conversation ended');
    await eventually(async () => /Has left/.test(await column(NAME_B).getByTestId('presence').innerText()), 'B shown as left');
  });

  await step('closing the room says everything is deleted, and A is told it closed', async () => {
    await ombud.getByRole('button', { name: 'Close room' }).click();
    const dialog = ombud.getByTestId('close-room-dialog');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /Everything in this room will be deleted/);
    await dialog.getByRole('button', { name: 'Close and delete everything' }).click();
    await ombud.getByRole('heading', { name: 'Rooms' }).waitFor();
    await partyA.getByTestId('ended').waitFor();
    assert.match(await partyA.getByTestId('ended').innerText(), /closed/);
  });

  await step('no page error, CSP violation or JavaScript dialog on any page', async () => {
    assert.deepEqual([...ombud.problems, ...partyA.problems, ...partyB.problems], []);
  });

  console.log(`${stepCount()} passed, 0 failed`);
} catch (err) {
  await reportFailure(err, 'e2e', [ombud, partyA, partyB]);
} finally {
  await browser.close();
}
