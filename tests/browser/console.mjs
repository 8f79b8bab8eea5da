// The ombud console at office scale, in headless Chromium against the real
// relay: a room with six parties (two invited from the console, four over
// REST), three of whom join and write from their own phones.
//
// At 1280×800 the thread list shows all six, the selected thread's message
// box is on screen without scrolling, and a long message has room (the
// conversation pane is at least 600 px wide); at 1024 px everything is still
// reachable, by mouse and by keyboard. Unread messages count per thread, in
// the page title and in the favicon; a message in another room raises that
// room's count in the room list; reading clears them. Desktop alerts come
// only after the ombud opts in, and say nothing confidential. The relay
// editor opens as a pane beside the thread at 1280 px and below it at
// 1024 px, takes the focus, and gives it back on Escape. In it a room term
// is suggested at once, a selection becomes a new term
// (saved with the room), suggestions are redacted one by one or all at
// once, and the recipient gets exactly the preview. The author's page title
// counts the consent request waiting for it, and the author, opted in and
// looking at another window, gets an alert that says only that a request
// waits. axe-core runs on every state.
//
// Run: CAUCUS_BASE_URL=http://127.0.0.1:18080 CAUCUS_OMBUD_USER=ombud \
//      CAUCUS_OMBUD_PASSWORD=secret-pass node tests/browser/console.mjs

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { settings, launch, watchedPage, eventually, step, stepCount, repoRoot, checkA11y, reportFailure } from './lib.mjs';

const cfg = settings();

const ROOM = 'Six-party team review';
const OTHER_ROOM = 'Parking dispute';
const UI_PARTIES = ['Amara Diallo', 'Bruno Costa'];
const REST_PARTIES = ['Chen Wei', 'Dana Ruiz', 'Eero Lahti', 'Fatima Khan'];
const PARTIES = [...UI_PARTIES, ...REST_PARTIES];
const TERM = 'Project Nightjar';
const NEW_TERM = 'Elm Street office';
const LONG = `I want to explain what happened with ${TERM} at the ${NEW_TERM}: over three weeks the schedule changed four times without notice, and each time I learned of it from a colleague rather than from my manager, which made planning my childcare nearly impossible and left me feeling shut out of decisions that affected my work directly.`;
const BASE_TITLE = 'Ombud console · Caucus';
const ALERT_TEXT = 'A new message is waiting in the ombud console.';

/** Let `context` show notifications, and record every one its pages create (still creating it). */
async function recordNotifications(context) {
  await context.grantPermissions(['notifications'], { origin: cfg.baseUrl });
  await context.addInitScript(() => {
    const Real = window.Notification;
    window.__notes = [];
    // chromium-headless-shell says 'denied' here whatever was granted; the
    // Permissions API has the grant, as Notification.permission has in Chromium.
    let permission = Real.permission;
    navigator.permissions.query({ name: 'notifications' }).then((status) => {
      const follow = () => {
        permission = status.state === 'prompt' ? 'default' : status.state;
      };
      follow();
      status.onchange = follow;
    });
    window.Notification = class extends Real {
      static get permission() {
        return permission;
      }

      constructor(title, options) {
        window.__notes.push({ title, body: options && options.body });
        super(title, options);
      }
    };
  });
}

const browser = await launch(cfg);
const ombudContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
await recordNotifications(ombudContext);
const phone = { viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const ombud = await watchedPage(ombudContext, 'ombud');
const parties = {}; // name -> page
const pages = [ombud];

const tab = (name) => ombud.locator(`[data-testid="thread-tab"][data-name="${name}"]`);
const column = (name) => ombud.locator(`[data-testid="column"][data-name="${name}"]`);
const messageIn = (scope, text) => scope.locator('[data-testid="message"]', { hasText: text });
const notes = () => ombud.evaluate(() => window.__notes);
const iconCount = () => ombud.evaluate(() => document.querySelector('link[rel="icon"]').dataset.count || '0');

let token = '';
let roomId = '';
const links = {};

async function rest(method, url, body) {
  const res = await fetch(`${cfg.baseUrl}${url}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(res.ok, `${method} ${url}: ${res.status}`);
  return res.status === 204 ? null : res.json();
}

async function join(name, link) {
  const context = await browser.newContext(phone);
  await recordNotifications(context);
  const page = await watchedPage(context, name);
  pages.push(page);
  await page.goto(link);
  await page.getByRole('button', { name: 'I understand' }).click();
  await page.getByTestId('composer-input').waitFor();
  parties[name] = page;
  return page;
}

async function say(name, text) {
  const page = parties[name];
  await page.getByTestId('composer-input').fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await messageIn(page.getByTestId('private-thread'), text.slice(0, 40)).locator('[data-state="sent"], time').first().waitFor();
}

/** Where the relay editor sits against the conversation it was opened from. */
async function layoutOf(editor, source) {
  const pane = await editor.boundingBox();
  const thread = await column(UI_PARTIES[0]).boundingBox();
  const msg = await source.boundingBox();
  const height = await ombud.evaluate(() => window.innerHeight);
  const scrolled = await ombud.evaluate(() => document.activeElement.getBoundingClientRect().top);
  return {
    paneLeft: pane.x,
    paneTop: pane.y,
    paneWidth: pane.width,
    threadRight: thread.x + thread.width,
    threadBottom: thread.y + thread.height,
    threadWidth: thread.width,
    sourceVisible: msg.y >= 0 && msg.y < height,
    paneInView: scrolled >= 0 && scrolled < height,
  };
}

async function unreadOf(name) {
  return Number((await tab(name).getAttribute('data-unread')) || 0);
}

try {
  await step('the ombud signs in and creates a room', async () => {
    await ombud.goto(`${cfg.baseUrl}/`);
    await ombud.getByLabel('Username', { exact: true }).fill(cfg.username);
    await ombud.getByLabel('Password', { exact: true }).fill(cfg.password);
    await ombud.getByRole('button', { name: 'Sign in' }).click();
    await ombud.getByRole('heading', { name: 'Rooms' }).waitFor();
    token = await ombud.evaluate(() => JSON.parse(sessionStorage.getItem('caucus.ombud')).token);
    await ombud.getByLabel('Title').fill(ROOM);
    await ombud.getByRole('button', { name: 'Create room' }).click();
    await ombud.getByTestId('room-heading').filter({ hasText: ROOM }).waitFor();
    roomId = ombud.url().split('/').pop();
    await ombud.getByTestId('connection-status').and(ombud.locator('[data-state="online"]')).waitFor();
  });

  await step('six parties: two invited from the console, four over REST; invitations fold into the party once used', async () => {
    for (const name of UI_PARTIES) {
      await ombud.getByLabel('Name the party will be shown as').fill(name);
      await ombud.getByRole('button', { name: 'Create invitation link' }).click();
      const link = ombud.locator(`#invites [data-testid="invite-link"][data-name="${name}"]`);
      await link.waitFor();
      links[name] = await link.inputValue();
      // The whole link is visible, not just its start.
      const fits = await link.evaluate((el) => el.scrollWidth <= el.clientWidth + 1 && el.scrollHeight <= el.clientHeight + 1);
      assert.ok(fits, 'the invitation link shows in full');
      await tab(name).waitFor();
    }
    await checkA11y(ombud, 'console: invitations shown once');
    for (const name of REST_PARTIES) {
      const invite = await rest('POST', `/api/rooms/${roomId}/parties`, { display_name: name });
      links[name] = `${cfg.baseUrl}${invite.invite_url}`;
    }
    await ombud.reload();
    await ombud.getByTestId('connection-status').and(ombud.locator('[data-state="online"]')).waitFor();
    const names = await ombud.getByTestId('thread-tab').evaluateAll((els) => els.filter((e) => e.dataset.kind === 'private').map((e) => e.dataset.name));
    assert.deepEqual(names, PARTIES, 'the thread list shows all six parties, in the order invited');
    assert.equal(await ombud.getByTestId('thread-tab').count(), 8, 'and Joint and Notes');

    await join(UI_PARTIES[0], links[UI_PARTIES[0]]);
    await join(REST_PARTIES[0], links[REST_PARTIES[0]]);
    await join(REST_PARTIES[2], links[REST_PARTIES[2]]);
    await eventually(async () => /Link used|Online|Joined/.test(await tab(UI_PARTIES[0]).innerText()), 'the first party shows as joined');
    assert.equal(await ombud.locator(`#invites [data-party-id]`).count(), 0, 'a reload shows no invitation again');
    assert.match(await tab(REST_PARTIES[1]).innerText(), /Link not used yet/);
  });

  await step('the ombud reads one thread while messages arrive in others: counts per thread, in the title and the favicon', async () => {
    await tab(UI_PARTIES[0]).click();
    await say(UI_PARTIES[0], LONG);
    await messageIn(column(UI_PARTIES[0]), 'childcare').waitFor();
    assert.equal(await unreadOf(UI_PARTIES[0]), 0, 'the thread on screen is read');
    await say(REST_PARTIES[0], 'Chen here: I have two points to raise.');
    await say(REST_PARTIES[2], 'Eero: is there a meeting this week?');
    await eventually(async () => (await unreadOf(REST_PARTIES[0])) === 1 && (await unreadOf(REST_PARTIES[2])) === 1, 'one unread each');
    await eventually(async () => (await ombud.title()) === `(2) ${BASE_TITLE}`, 'the title counts two');
    assert.equal(await iconCount(), '2', 'the favicon counts two');
    assert.match(await ombud.evaluate(() => document.querySelector('link[rel="icon"]').href), /^data:image\/svg\+xml,/);
    assert.match(await tab(REST_PARTIES[0]).innerText(), /1 unread/);
    assert.match(await ombud.getByTestId('announcer').innerText(), /New message from/);
    assert.deepEqual(await notes(), [], 'no desktop alert before the ombud opts in');
    await checkA11y(ombud, 'console: six-party room with unread threads');
    await tab(REST_PARTIES[0]).click();
    await eventually(async () => (await ombud.title()) === `(1) ${BASE_TITLE}`, 'reading one leaves one');
    assert.equal(await iconCount(), '1');
  });

  await step('at 1280×800 the message box is on screen without scrolling and long messages have room', async () => {
    await tab(UI_PARTIES[0]).click();
    const composer = column(UI_PARTIES[0]).getByTestId('composer-input');
    const box = await composer.boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= 800, `message box at ${JSON.stringify(box)} is within 800 px`);
    const send = await column(UI_PARTIES[0]).getByTestId('composer-send').boundingBox();
    assert.ok(send.y + send.height <= 800, 'and so is Send');
    assert.equal(await ombud.evaluate(() => document.documentElement.scrollHeight <= window.innerHeight), true, 'the page does not scroll');
    const pane = await column(UI_PARTIES[0]).boundingBox();
    assert.ok(pane.width >= 600, `the conversation pane is ${pane.width} px wide`);
    const body = messageIn(column(UI_PARTIES[0]), 'childcare').getByTestId('message-body');
    const { width, lines } = await body.evaluate((el) => ({
      width: el.getBoundingClientRect().width,
      lines: Math.round(el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight)),
    }));
    // About 370 characters: in the old 16rem columns that was 13 lines.
    assert.ok(width >= 560 && lines <= 6, `the long message is ${width} px wide in ${lines} lines, not squeezed`);
    await checkA11y(ombud, 'console: six parties at 1280×800');
  });

  await step('at 1024 px every thread and tool is reachable, by mouse and by keyboard', async () => {
    await ombud.setViewportSize({ width: 1024, height: 768 });
    try {
      const last = PARTIES.at(-1);
      await tab(last).click();
      const composer = column(last).getByTestId('composer-input');
      await composer.scrollIntoViewIfNeeded();
      await composer.fill('Fatima, I will write once you have joined.');
      await composer.press('Control+Enter');
      await messageIn(column(last), 'once you have joined').locator('time').waitFor();
      const pane = await column(last).boundingBox();
      assert.ok(pane.width >= 600, `the pane is still ${pane.width} px wide at 1024 px`);
      // Keyboard: along the thread list with the arrow keys, Enter opens one.
      await tab(PARTIES[0]).focus();
      await ombud.keyboard.press('ArrowDown');
      assert.equal(await ombud.evaluate(() => document.activeElement.dataset.name), PARTIES[1]);
      await ombud.keyboard.press('Enter');
      await column(PARTIES[1]).waitFor();
      assert.equal(await tab(PARTIES[1]).getAttribute('aria-current'), 'true');
      const tools = ombud.getByText('Send a resource', { exact: true });
      await tools.scrollIntoViewIfNeeded();
      await tools.click();
      await ombud.getByTestId('refer-party').waitFor();
      await checkA11y(ombud, 'console: six parties at 1024 px, a tool open');
      await tools.click();
    } finally {
      await ombud.setViewportSize({ width: 1280, height: 800 });
    }
  });

  await step('desktop alerts only after opting in, and they say nothing confidential', async () => {
    await tab(UI_PARTIES[0]).click();
    const toggle = ombud.getByTestId('notify-toggle');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await toggle.click();
    await eventually(async () => (await toggle.getAttribute('aria-pressed')) === 'true', 'alerts on');
    assert.equal(await toggle.innerText(), 'Turn off desktop alerts');
    await checkA11y(ombud, 'console: desktop alerts on');
    const secret = 'Eero again: the incident on the loading dock worries me.';
    await say(REST_PARTIES[2], secret);
    const seen = await eventually(async () => {
      const n = await notes();
      return n.length === 1 && n;
    }, 'one desktop alert');
    assert.deepEqual(seen, [{ title: 'Caucus', body: ALERT_TEXT }]);
    for (const word of ['Eero', 'loading dock', ROOM]) assert.ok(!JSON.stringify(seen).includes(word), `the alert does not say "${word}"`);
    await tab(REST_PARTIES[2]).click();
    await eventually(async () => (await ombud.title()) === BASE_TITLE, 'everything read: no count');
    assert.equal(await iconCount(), '0');

    // A party opts in on its own page, then looks at another window.
    const author = parties[UI_PARTIES[0]];
    const partyToggle = author.getByTestId('notify-toggle');
    await partyToggle.click();
    await eventually(async () => (await partyToggle.getAttribute('aria-pressed')) === 'true', 'the party turned alerts on');
    await checkA11y(author, 'party: desktop alerts on');
    await author.evaluate(() => {
      document.hasFocus = () => false;
    });
  });

  await step('a message in another room counts in the title, the Rooms link and that room in the list, until read', async () => {
    const other = await rest('POST', '/api/rooms', { title: OTHER_ROOM });
    const invite = await rest('POST', `/api/rooms/${other.id}/parties`, { display_name: 'Gus Moreau' });
    await join('Gus Moreau', `${cfg.baseUrl}${invite.invite_url}`);
    await say('Gus Moreau', 'Gus: the car park rota again.');
    await eventually(async () => (await ombud.title()) === `(1) ${BASE_TITLE}`, 'the title counts the other room', 12_000);
    assert.equal(await iconCount(), '1');
    assert.equal(await ombud.getByTestId('nav-rooms-count').innerText(), '1 new');
    await eventually(async () => (await notes()).length === 2, 'a second alert, for the other room');
    assert.equal((await notes())[1].body, ALERT_TEXT);
    await ombud.getByTestId('nav-rooms').click();
    const item = ombud.locator(`#room-list [data-room-id="${other.id}"]`);
    await item.getByTestId('room-new').filter({ hasText: '1 new' }).waitFor();
    assert.equal(await ombud.locator(`#room-list [data-room-id="${roomId}"] [data-testid="room-new"]`).isHidden(), true, 'the room read to the end has none');
    assert.match(await ombud.locator(`#room-list [data-room-id="${roomId}"]`).innerText(), /3 not joined yet/);
    await checkA11y(ombud, 'console: room list with counts');
    await item.getByTestId('room-link').click();
    await ombud.getByTestId('room-heading').filter({ hasText: OTHER_ROOM }).waitFor();
    await messageIn(column('Gus Moreau'), 'car park').waitFor();
    await eventually(async () => (await ombud.title()) === BASE_TITLE, 'read: the title has no count');
    await ombud.getByTestId('nav-rooms').click();
    await eventually(async () => ombud.locator(`#room-list [data-room-id="${other.id}"] [data-testid="room-new"]`).isHidden(), 'read: the room has no count');
    await ombud.locator(`#room-list [data-room-id="${roomId}"]`).getByTestId('room-link').click();
    await ombud.getByTestId('connection-status').and(ombud.locator('[data-state="online"]')).waitFor();
  });

  let preview = '';
  await step('the relay editor suggests the room terms at once, adds a selection as a term, and redacts one or all', async () => {
    await ombud.getByText('Categories and sensitive terms', { exact: true }).click();
    await ombud.getByTestId('terms-input').fill(TERM);
    await ombud.getByRole('button', { name: 'Save terms' }).click();
    await eventually(async () => /Saved 1 term/.test(await ombud.locator('#terms-status').innerText()), 'terms saved');
    await ombud.getByText('Categories and sensitive terms', { exact: true }).click();

    await tab(UI_PARTIES[0]).click();
    const relayButton = messageIn(column(UI_PARTIES[0]), 'childcare').getByRole('button', { name: 'Relay to…' });
    await relayButton.click();
    const editor = ombud.getByTestId('relay-pane');
    await editor.waitFor();
    // A pane beside the conversation, not a dialog over it: the thread and
    // the message being relayed stay in view, and the focus is in the draft.
    const source = messageIn(column(UI_PARTIES[0]), 'childcare');
    const beside = await layoutOf(editor, source);
    assert.ok(beside.paneLeft >= beside.threadRight, `the editor is beside the thread at 1280 px (${JSON.stringify(beside)})`);
    assert.ok(beside.sourceVisible, 'the message being relayed is still on screen');
    assert.ok(beside.paneWidth >= 350 && beside.threadWidth >= 350, `both have room (${JSON.stringify(beside)})`);
    assert.equal(await ombud.evaluate(() => document.activeElement.dataset.testid), 'relay-text', 'the focus is in the draft');
    assert.equal(await ombud.locator('dialog[open]').count(), 0, 'nothing modal covers the console');
    // Escape closes it and gives the focus back; at 1024 px it opens below the thread.
    await ombud.keyboard.press('Escape');
    await editor.waitFor({ state: 'hidden' });
    assert.equal(await ombud.evaluate(() => document.activeElement.textContent), 'Relay to…', 'Escape gives the focus back');
    await ombud.setViewportSize({ width: 1024, height: 768 });
    try {
      await relayButton.click();
      await editor.waitFor();
      const stacked = await layoutOf(editor, source);
      assert.ok(stacked.paneTop >= stacked.threadBottom, `the editor is below the thread at 1024 px (${JSON.stringify(stacked)})`);
      assert.ok(stacked.paneInView, 'and scrolled into view with the focus in the draft');
      await checkA11y(ombud, 'console: relay editor below the thread at 1024 px');
      await editor.getByRole('button', { name: 'Cancel' }).click();
      await editor.waitFor({ state: 'hidden' });
    } finally {
      await ombud.setViewportSize({ width: 1280, height: 800 });
    }
    await relayButton.click();
    await editor.waitFor();
    const items = editor.getByTestId('suggestion-item');
    await items.first().waitFor();
    assert.equal(await items.count(), 1, 'the room term is suggested before asking');
    assert.match(await items.first().innerText(), new RegExp(TERM));
    assert.equal(await items.first().getAttribute('data-kind'), 'term');
    assert.match(await editor.getByTestId('relay-terms-hint').innerText(), /flags 1 sensitive term/);

    const text = editor.getByTestId('relay-text');
    await text.evaluate((el, phrase) => {
      const at = el.value.indexOf(phrase);
      el.focus();
      el.setSelectionRange(at, at + phrase.length);
    }, NEW_TERM);
    await editor.getByRole('button', { name: 'Add selection as a sensitive term' }).click();
    await eventually(async () => (await items.count()) === 2, 'the new term is suggested too');
    assert.match(await editor.getByTestId('suggest-status').innerText(), /is now a sensitive term/);
    await checkA11y(ombud, 'console: relay editor with room terms listed');
    const saved = await rest('GET', `/api/rooms/${roomId}`);
    assert.deepEqual(saved.sensitive_terms, [TERM, NEW_TERM], 'the new term is saved with the room');
    assert.equal(await ombud.getByTestId('terms-input').inputValue(), `${TERM}\n${NEW_TERM}`, 'and shown in the terms tool');

    await items.first().getByTestId('suggestion-apply').click();
    assert.equal(await text.inputValue(), LONG.replace(TERM, '█████'), 'one applied');
    assert.equal(await items.first().getAttribute('data-applied'), 'true');
    await editor.getByRole('button', { name: 'Redact all suggestions' }).click();
    const expected = LONG.replace(TERM, '█████').replace(NEW_TERM, '█████');
    assert.equal(await text.inputValue(), expected, 'all applied');
    preview = await editor.getByTestId('relay-preview').innerText();
    assert.equal(preview, expected, 'the preview is the text to send');
    await editor.locator(`[data-testid="relay-recipient"][data-name="${REST_PARTIES[0]}"]`).check();
    // The README's picture of the console: six parties, a relay being edited beside the thread.
    await fs.mkdir(cfg.screenshots, { recursive: true });
    await editor.evaluate((el) => el.scrollTo(0, 0));
    await ombud.screenshot({ path: path.join(cfg.screenshots, 'console.png') });
    await editor.getByRole('button', { name: 'Send for consent' }).click();
    await editor.waitFor({ state: 'hidden' });
    await eventually(async () => (await ombud.evaluate(() => document.activeElement.textContent)) === 'Relay to…', 'the focus goes back to the button that opened the editor');
    await ombud.getByTestId('relay-summary-item').filter({ hasText: 'Waiting for' }).waitFor();
  });

  await step("the author's page title counts the consent request; the recipient gets exactly the preview", async () => {
    const author = parties[UI_PARTIES[0]];
    await eventually(async () => /^\(1\) /.test(await author.title()), "the author's title counts one request");
    assert.deepEqual(
      await author.evaluate(() => window.__notes),
      [{ title: 'Caucus', body: 'The ombud asks for your approval of a message.' }],
      'one alert, saying nothing of the message',
    );
    const card = author.locator('[data-testid="consent-card"][data-state="pending"]');
    await checkA11y(author, 'party: a consent request counted in the title');
    await card.getByRole('button', { name: 'Approve' }).click();
    await eventually(async () => !/^\(\d+\) /.test(await author.title()), 'answered: no count');
    const relayed = parties[REST_PARTIES[0]].locator('[data-testid="message"].relayed [data-testid="message-body"]');
    await relayed.waitFor();
    assert.equal(await relayed.innerText(), preview);
    await ombud.getByTestId('relay-summary-item').filter({ hasText: 'Delivered' }).waitFor();
    await checkA11y(ombud, 'console: a delivered relay beside the conversation');
  });

  await step('no page error, CSP violation or JavaScript dialog on any page', async () => {
    assert.deepEqual(pages.flatMap((p) => p.problems), []);
  });

  console.log(`${stepCount()} passed, 0 failed`);
} catch (err) {
  await reportFailure(err, 'console', pages);
} finally {
  await browser.close();
}
