// The office's contact page (`/contact`): anyone may start a confidential
// conversation, without an account, named or anonymous. The page solves
// the relay's proof-of-work challenge (Web Crypto, no third party), starts
// the conversation, and shows the private return link to keep; the
// conversation itself is the party page (`/join#return.<token>`). The page
// speaks the visitor's language (i18n.js): chosen on the page, else the
// browser's; the office's own texts come as the office wrote them.

import { api, describeError } from './api.js';
import { $, h, replace, show, flash, say, paragraphs, copyText, wireLanguage } from './dom.js';
import { t } from './i18n.js';

/** The party page's storage key: a started conversation is a party session. */
const STORAGE_KEY = 'caucus.party';

let office = null;

function leadingZeroBits(bytes) {
  let n = 0;
  for (const b of bytes) {
    if (b === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(b) - 24;
  }
  return n;
}

/** Finds a nonce such that SHA-256(`challenge:nonce`) starts with `difficulty` zero bits. */
async function solve(challenge, difficulty, progress) {
  const enc = new TextEncoder();
  for (let i = 0; ; i++) {
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(`${challenge}:${i}`)));
    if (leadingZeroBits(digest) >= difficulty) return String(i);
    if (i % 4096 === 0) progress(i);
  }
}

async function load() {
  try {
    office = await api('GET', '/api/intake');
  } catch (err) {
    show($('#loading'), false);
    say($('#problem-text'), describeError(err));
    show($('#problem'), true);
    return;
  }
  showTitle();
  $('#office-name').textContent = office.office_name;
  replace($('#notice-text'), paragraphs(office.notice));
  if (office.office_hours) {
    $('#office-hours').textContent = office.office_hours;
    show($('#hours-row'), true);
  }
  if (office.response_time) {
    $('#response-time').textContent = office.response_time;
    show($('#response-row'), true);
  }
  show($('#loading'), false);
  show($('#about'), true);
  show($('#closed'), !office.open);
  show($('#start'), office.open);
}

/** The page title with the office's name, in the page's language. */
function showTitle() {
  if (office) document.title = t('contact.pageTitleOffice', { office: office.office_name });
}

/** A challenge that is still good, fetching a fresh one if needed. */
async function freshChallenge() {
  const c = office.challenge;
  if (c && Date.parse(c.expires_at) - Date.now() > 30_000) return c;
  office = await api('GET', '/api/intake');
  if (!office.open) throw Object.assign(new Error('closed'), { code: 'intake_closed' });
  return office.challenge;
}

async function attempt(body) {
  const c = await freshChallenge();
  office.challenge = null; // each challenge starts one conversation at most
  const progress = (n) => {
    say($('#start-progress'), ['contact.preparing', { count: n, tries: n }]);
  };
  progress(0);
  const nonce = await solve(c.challenge, c.difficulty, progress);
  say($('#start-progress'), ['contact.sending']);
  return api('POST', '/api/intake', { body: { ...body, challenge: c.challenge, nonce } });
}

function started(res) {
  const token = res.token;
  const code = res.return_url.replace(/^\/join#/, '');
  let expires = null;
  try {
    expires = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp * 1000;
  } catch {
    expires = null;
  }
  const session = { token, room_id: res.room_id, party_id: res.party_id, code, expires_at: expires };
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  const link = location.origin + res.return_url;
  $('#started-label').textContent = res.label;
  $('#return-link').value = link;
  $('#continue').href = res.return_url;
  $('#return-copy').addEventListener('click', async () => {
    const ok = await copyText(link, $('#return-link'));
    say($('#return-copied'), [ok ? 'contact.copied' : 'contact.selectCopy']);
  });
  $('#return-link').addEventListener('focus', () => $('#return-link').select());
  $('#keep-signed-in').addEventListener('change', () => {
    if ($('#keep-signed-in').checked) localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    else localStorage.removeItem(STORAGE_KEY);
  });
  show($('#start'), false);
  show($('#about'), false);
  show($('#started'), true);
  $('#started-title').focus();
}

function wire() {
  for (const radio of document.querySelectorAll('input[name="label"]')) {
    radio.addEventListener('change', () => {
      const named = document.querySelector('input[name="label"]:checked').value === 'name';
      show($('#name-field'), named);
      $('#visitor-name').required = named;
    });
  }
  $('#start-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    show($('#start-error'), false);
    const named = document.querySelector('input[name="label"]:checked').value === 'name';
    const body = {
      label: named ? { kind: 'name', name: $('#visitor-name').value.trim() } : { kind: 'anonymous' },
      notice_acknowledged: $('#notice-ack').checked,
      body: $('#first-message').value,
    };
    $('#start-submit').disabled = true;
    try {
      let res;
      try {
        res = await attempt(body);
      } catch (err) {
        // A challenge spent or expired meanwhile: one more, freshly fetched.
        if (err.code !== 'challenge_failed') throw err;
        office.challenge = null;
        res = await attempt(body);
      }
      say($('#start-progress'), '');
      started(res);
    } catch (err) {
      say($('#start-progress'), '');
      if (err.code === 'intake_closed') {
        show($('#start'), false);
        show($('#closed'), true);
      } else {
        flash($('#start-error'), err.code === 'rate_limited' ? err.message : describeError(err));
      }
    } finally {
      $('#start-submit').disabled = false;
    }
  });
}

await wireLanguage($('#language'), showTitle);
wire();
load();
