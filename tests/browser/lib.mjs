// Helpers for the browser tests: launching Debian's Chromium through
// playwright-core, reading the relay's address from the environment (and,
// for a run across two nodes, the parties' relay: CAUCUS_PARTY_BASE_URL),
// watching pages for errors, and polling until something is true.

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');

/**
 * Debian's chromium-headless-shell when it is installed (headless only): the
 * old headless Chromium, without the browser's UI layer, takes about half the
 * processor time of `chromium --headless` for the same script. Else chromium.
 */
export function defaultChromium(headed) {
  const shell = '/usr/bin/chromium-headless-shell';
  return !headed && existsSync(shell) ? shell : '/usr/bin/chromium';
}

/**
 * Settings from the environment (set by tests/tests/browser.rs, and by
 * tests/tests/redis/browser.rs for a run across two relay nodes).
 *
 * - `CAUCUS_BASE_URL`: the relay the ombud's console is opened on.
 * - `CAUCUS_PARTY_BASE_URL` (optional): another relay of the same deployment
 *   (same store and secrets) on which the parties open their invitation
 *   links (see `partyUrl`), so what one side does reaches the other across
 *   nodes. Unset, the parties use `CAUCUS_BASE_URL`, as the links say.
 */
export function settings() {
  const baseUrl = process.env.CAUCUS_BASE_URL;
  assert.ok(baseUrl, 'CAUCUS_BASE_URL must be set, e.g. http://127.0.0.1:18080');
  const partyBaseUrl = process.env.CAUCUS_PARTY_BASE_URL || baseUrl;
  return {
    baseUrl: baseUrl.replace(/\/$/, ''),
    partyBaseUrl: partyBaseUrl.replace(/\/$/, ''),
    username: process.env.CAUCUS_OMBUD_USER || 'ombud',
    password: process.env.CAUCUS_OMBUD_PASSWORD || '',
    chromium: process.env.CHROMIUM_PATH || defaultChromium(process.env.HEADED === '1'),
    screenshots: process.env.CAUCUS_SCREENSHOTS || path.join(repoRoot, 'target', 'screenshots'),
    headed: process.env.HEADED === '1',
  };
}

/**
 * Where a party opens `link` (an invitation link from the console, which
 * starts with `cfg.baseUrl`): the same path and fragment on
 * `cfg.partyBaseUrl`'s origin. Without `CAUCUS_PARTY_BASE_URL`, `link` itself.
 */
export function partyUrl(cfg, link) {
  if (cfg.partyBaseUrl === cfg.baseUrl) return link;
  const url = new URL(link);
  const party = new URL(cfg.partyBaseUrl);
  url.protocol = party.protocol;
  url.host = party.host;
  return url.href;
}

export async function launch(cfg) {
  return chromium.launch({
    executablePath: cfg.chromium,
    headless: !cfg.headed,
    args: [
      ...(cfg.headed ? [] : ['--headless']),
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
      // Headless and without a GPU anyway: composite in software directly,
      // without SwiftShader or subpixel text (measured: the suite about 2 s
      // faster on 2 cores).
      '--disable-software-rasterizer',
      '--disable-gpu-compositing',
      '--disable-lcd-text',
      // Tests talk to this machine only: no name resolves but its own (the
      // test OpenID provider's pages would fetch a web font).
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
    ],
  });
}

/**
 * A page that records what must never happen: uncaught errors, CSP
 * violations and any JavaScript dialog (an injected `alert(1)` would be one).
 */
export async function watchedPage(context, name) {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`${name}: page error: ${err.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(text)) {
      problems.push(`${name}: CSP violation: ${text}`);
    }
  });
  page.on('dialog', async (dialog) => {
    problems.push(`${name}: a JavaScript dialog fired: ${dialog.type()} ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.problems = problems;
  page.setDefaultTimeout(15_000);
  return page;
}

/** Poll `fn` until it returns a truthy value (or stops throwing). */
export async function eventually(fn, what, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      last = new Error(`not yet: ${what}`);
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}: ${last && last.message}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

let steps = 0;
/** Run one named step and print it, so a failure says where it happened. */
export async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
  } catch (err) {
    console.log(`not ok - ${name}`);
    throw err;
  }
  steps += 1;
  console.log(`ok ${steps} - ${name} (${Date.now() - started} ms)`);
}

export function stepCount() {
  return steps;
}

/**
 * A TCP proxy in front of the relay, so a test can cut a browser's network
 * the way a train tunnel does: `cut()` drops every open connection and
 * refuses new ones until `restore()`. (Chromium's offline emulation leaves
 * open websockets alone, so it cannot simulate a drop.)
 */
export async function startProxy(target) {
  const { hostname, port } = new URL(target);
  const sockets = new Set();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(port), hostname);
    sockets.add(client);
    sockets.add(upstream);
    const cleanup = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', cleanup);
      s.on('close', cleanup);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      refusing = true;
      for (const s of sockets) s.destroy();
    },
    /**
     * The network goes silent without closing anything (a half-open TCP
     * connection): open connections stay open but carry nothing more, and
     * new ones are refused. Only a heartbeat can notice.
     */
    freeze() {
      refusing = true;
      for (const s of sockets) {
        s.unpipe();
        s.pause();
      }
    },
    restore() {
      refusing = false;
      // Frozen connections were given up by the page; let them go.
      for (const s of sockets) if (s.isPaused()) s.destroy();
    },
    close() {
      this.cut();
      server.close();
    },
  };
}

/** The WCAG 2.2 A and AA rules axe-core knows. */
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa'];
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const axeSeen = new Set();

/**
 * Run axe-core on the page as it is now and fail on any serious or critical
 * violation, naming the rule and the elements. `state` names what is on
 * screen, for the message and the summary line.
 */
export async function checkA11y(page, state) {
  const started = Date.now();
  // axe-core goes into the page once per document (a navigation clears it)
  // and runs there. The pages have no frames, so this sees everything;
  // @axe-core/playwright parsed axe's half-megabyte source again on every
  // check and finished each one in a new blank page, a renderer process
  // each time: that was most of a check's cost.
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async (tags) => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return { violations: r.violations, passes: r.passes.length };
  }, AXE_TAGS);
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  axeSeen.add(state);
  if (bad.length) {
    const lines = bad.map(
      (v) => `- ${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`).join('\n    ')}`,
    );
    throw new Error(`accessibility (axe) in "${state}":\n${lines.join('\n')}`);
  }
  console.log(`# axe: ${state}: no serious or critical violations (${results.passes} rules passed, ${Date.now() - started} ms)`);
}

export function a11yStates() {
  return [...axeSeen];
}

/**
 * A script failed: full-page screenshots of `pages` (`<script>-<i>.png` under
 * `target/browser-failure`), the error, every problem the pages saw, and a
 * failing exit code.
 */
export async function reportFailure(err, script, pages) {
  const shots = path.join(repoRoot, 'target', 'browser-failure');
  await fs.mkdir(shots, { recursive: true }).catch(() => {});
  for (const [i, page] of pages.entries()) {
    await page.screenshot({ path: path.join(shots, `${script}-${i}.png`), fullPage: true }).catch(() => {});
  }
  console.error(err);
  console.error(`problems seen: ${JSON.stringify(pages.flatMap((p) => p.problems ?? []), null, 2)}`);
  console.error(`failure screenshots in ${shots}`);
  console.log(`${stepCount()} passed, 1 failed`);
  process.exitCode = 1;
}
