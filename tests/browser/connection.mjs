// A party on a bad connection, in headless Chromium against the real relay.
// Split from e2e.mjs so that its waits (a reconnect's backoff, the
// heartbeat's timeout) run beside that script's steps instead of after them.
//
// The ombud invites Ben, who joins on a phone through a TCP proxy the test
// can cut. The proxy drops Ben's connection: his page says so, the ombud
// writes to him meanwhile, Ben writes while away, and after the reconnect
// each message is there exactly once, in order. Then the network goes silent
// without closing anything (a tunnel): the heartbeat, not the browser's
// online flag, says Ben is offline, his message waits and is sent once he is
// back. axe-core runs on the offline state. Every socket either page opens,
// reconnects included, names the room in its address (`/ws?room=`), the key
// a load balancer hashes to keep a room on one node.
//
// Run: CAUCUS_BASE_URL=http://127.0.0.1:18080 CAUCUS_OMBUD_USER=ombud \
//      CAUCUS_OMBUD_PASSWORD=secret-pass node tests/browser/connection.mjs

import assert from 'node:assert/strict';
import { settings, launch, watchedPage, step, stepCount, startProxy, checkA11y, reportFailure } from './lib.mjs';

const cfg = settings();

const NAME_B = 'Ben Okafor';
const HELLO = 'Hello, I am on the train today.';
const MISSED = 'Ben, I have passed on what Zoë said; take your time to reply.';
const QUEUED = 'Written on the train, while my connection was down.';

const browser = await launch(cfg);
const ombudContext = await browser.newContext({ viewport: { width: 1440, height: 960 } });
const bContext = await browser.newContext({ viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
// B reaches the relay through a proxy the test can cut, to drop B's connection.
const proxyB = await startProxy(cfg.baseUrl);
const ombud = await watchedPage(ombudContext, 'ombud');
const partyB = await watchedPage(bContext, 'party B');

// The address of every websocket each page opens, in order.
const socketUrls = { ombud: [], B: [] };
ombud.on('websocket', (ws) => socketUrls.ombud.push(new URL(ws.url())));
partyB.on('websocket', (ws) => socketUrls.B.push(new URL(ws.url())));

/** Every socket so far, of both pages, named one room, and that room is a uuid. */
function assertSocketsNameOneRoom() {
  const all = [...socketUrls.ombud, ...socketUrls.B];
  assert.ok(socketUrls.ombud.length >= 1 && socketUrls.B.length >= 1, 'both pages opened a socket');
  for (const url of all) assert.equal(url.pathname, '/ws');
  const rooms = new Set(all.map((url) => url.searchParams.get('room')));
  assert.equal(rooms.size, 1, `one room named by every socket, got ${[...rooms].join(', ')}`);
  assert.match([...rooms][0], /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
}

const column = (name) => ombud.locator(`[data-testid="column"][data-name="${name}"]`);
const messageIn = (scope, text) => scope.locator('[data-testid="message"]', { hasText: text });
const privateThread = (page) => page.locator('[data-testid="private-thread"]');

try {
  await step('the ombud invites B, who joins through a proxy and writes', async () => {
    await ombud.goto(`${cfg.baseUrl}/`);
    await ombud.getByLabel('Username', { exact: true }).fill(cfg.username);
    await ombud.getByLabel('Password', { exact: true }).fill(cfg.password);
    await ombud.getByRole('button', { name: 'Sign in' }).click();
    await ombud.getByLabel('Title').fill('Train connection');
    await ombud.getByRole('button', { name: 'Create room' }).click();
    await ombud.getByTestId('connection-status').and(ombud.locator('[data-state="online"]')).waitFor();
    await ombud.getByLabel('Name the party will be shown as').fill(NAME_B);
    await ombud.getByRole('button', { name: 'Create invitation link' }).click();
    const link = await ombud.locator(`[data-testid="invite-link"][data-name="${NAME_B}"]`).inputValue();
    await partyB.goto(link.replace(cfg.baseUrl, proxyB.url));
    await partyB.getByRole('button', { name: 'I understand' }).click();
    await partyB.getByTestId('composer-input').fill(HELLO);
    await partyB.getByRole('button', { name: 'Send', exact: true }).click();
    await messageIn(privateThread(partyB), HELLO).locator('time').waitFor();
    await ombud.locator(`[data-testid="thread-tab"][data-name="${NAME_B}"]`).click();
    await messageIn(column(NAME_B), HELLO).waitFor();
    assertSocketsNameOneRoom();
  });

  await step("B's connection drops: B sees it, reconnects by itself, and nothing is lost or repeated", async () => {
    const thread = privateThread(partyB);
    const ids = () => thread.locator('[data-testid="message"]').evaluateAll((els) => els.map((e) => e.dataset.messageId || e.dataset.clientId));
    const before = await ids();
    proxyB.cut();
    // A closed socket is seen at once; the retries fail while the proxy refuses.
    await partyB.locator('[data-testid="connection-status"][data-state="reconnecting"], [data-testid="connection-status"][data-state="offline"]').waitFor();
    assert.match(await partyB.getByTestId('connection-status').innerText(), /Reconnecting|Offline/);
    // The ombud writes to B while B is away ...
    const composer = column(NAME_B).getByTestId('composer-input');
    await composer.fill(MISSED);
    await composer.press('Control+Enter');
    await messageIn(column(NAME_B), MISSED).locator('time').waitFor();
    // ... and B writes while offline: kept as "sending", delivered after the reconnect.
    await partyB.getByTestId('composer-input').fill(QUEUED);
    await partyB.getByRole('button', { name: 'Send', exact: true }).click();
    await messageIn(thread, QUEUED).waitFor();
    // At least one retry has failed against the closed door by now.
    await partyB.locator('[data-testid="connection-status"][data-state="offline"]').waitFor();
    proxyB.restore();
    await partyB.locator('[data-testid="connection-status"][data-state="online"]').waitFor({ timeout: 20_000 });
    await messageIn(thread, MISSED).locator('time').waitFor();
    await messageIn(thread, QUEUED).locator('time').waitFor();
    const after = await ids();
    assert.equal(new Set(after).size, after.length, 'no message shown twice');
    assert.deepEqual(after.slice(0, before.length), before, 'what was there stays, in order');
    assert.equal(after.length, before.length + 2, 'exactly the missed message and the queued one were added');
    await messageIn(column(NAME_B), QUEUED).waitFor();
    assert.equal(await messageIn(column(NAME_B), QUEUED).count(), 1, 'the ombud got the queued message once');
    assert.ok(socketUrls.B.length >= 2, "B's page opened a new socket to reconnect");
    assertSocketsNameOneRoom();
  });

  await step("B's network goes silent: the heartbeat, not the browser, says B is offline, and a message waits and is then sent", async () => {
    const thread = privateThread(partyB);
    const status = partyB.getByTestId('connection-status');
    await status.and(partyB.locator('[data-state="online"]')).waitFor();
    // Chromium's offline mode leaves the open websocket working, so the
    // proxy also freezes it: open but silent, as in a tunnel.
    proxyB.freeze();
    await bContext.setOffline(true);
    const lost = Date.now();
    await status.and(partyB.locator('[data-state="offline"]')).waitFor({ timeout: 12_000 });
    assert.equal(await status.innerText(), 'Offline — your message will be sent when you are back.');
    console.log(`# heartbeat found the silent socket dead in ${Date.now() - lost} ms`);
    const text = 'Sent from the tunnel, delivered after it.';
    await partyB.getByTestId('composer-input').fill(text);
    await partyB.getByRole('button', { name: 'Send', exact: true }).click();
    const mine = messageIn(thread, text);
    await mine.and(partyB.locator('[data-state="queued"]')).waitFor();
    assert.equal(await mine.getByTestId('message-state').innerText(), 'Waiting for the connection…');
    await checkA11y(partyB, 'party: offline, a message waiting');
    proxyB.restore();
    await bContext.setOffline(false);
    await status.and(partyB.locator('[data-state="online"]')).waitFor({ timeout: 20_000 });
    await mine.and(partyB.locator('[data-state="sent"]')).waitFor();
    await messageIn(column(NAME_B), text).waitFor();
    assert.equal(await messageIn(column(NAME_B), text).count(), 1, 'the ombud got it once');
  });

  await step('no page error, CSP violation or JavaScript dialog on any page', async () => {
    assert.deepEqual([...ombud.problems, ...partyB.problems], []);
  });

  console.log(`${stepCount()} passed, 0 failed`);
} catch (err) {
  await reportFailure(err, 'connection', [ombud, partyB]);
} finally {
  await browser.close();
  proxyB.close();
}
