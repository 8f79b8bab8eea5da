// The single negotiating text and range questions in the console: a
// proposal editor (title and one clause per line), its versions with the
// clauses that changed from the one before, sharing a version with chosen
// parties, per-party status (version shown, comments, decision), calling
// for a decision, the agreement's download once concluded, and range
// questions with their progress.
//
// Comments arrive as messages in each party's column, so relaying one is
// the usual "Relay to…" with the author's consent. The state lives beside
// the open room (a WeakMap keyed by it), rebuilt from the ombud's replay.

import { describeError } from '../api.js';
import { $, h, replace, flash, say, downloadBlob, randomId } from '../dom.js';
import { t, setText, onLanguageChange } from '../i18n.js';
import { call } from './session.js';
import { partiesInOrder, nameOf } from './room-state.js';

const states = new WeakMap();
const T = (key, params) => t(`console.onetext.${key}`, params);
const K = (key, params) => [`console.onetext.${key}`, params];

function stateOf(room) {
  let s = states.get(room);
  if (!s) {
    s = { proposals: new Map(), ranges: new Map(), current: null };
    states.set(room, s);
  }
  return s;
}

function proposal(s, id) {
  let p = s.proposals.get(id);
  if (!p) {
    p = { id, versions: new Map(), shown: new Map(), comments: new Map(), call: null, decisions: new Map(), concluded: false };
    s.proposals.set(id, p);
  }
  return p;
}

/** Which clauses of `now` are new or changed from `before` (same LCS rule as the relay). */
export function clauseMarks(before, now) {
  const n = before.length;
  const m = now.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = before[i] === now[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const marks = new Array(m).fill('');
  let i = 0;
  let j = 0;
  let gapOld = 0;
  let gapNew = [];
  const flush = () => {
    gapNew.forEach((k, idx) => { marks[k] = idx < gapOld ? 'changed' : 'added'; });
    gapOld = 0;
    gapNew = [];
  };
  while (i < n || j < m) {
    if (i < n && j < m && before[i] === now[j]) {
      flush();
      i++;
      j++;
    } else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) {
      gapNew.push(j++);
    } else {
      gapOld++;
      i++;
    }
  }
  flush();
  return marks;
}

function request(app, frame) {
  return app.room.conn.request({ ...frame, idempotency_key: randomId() }, { retry: true });
}

/**
 * Redraw what events change: the proposal view and the range list. The
 * editor and the range form are drawn once per room (`renderOneText`), so
 * an event never wipes what the ombud is typing.
 */
function render(app) {
  const room = app.room;
  if (!room || !$('#onetext-view')) return;
  const s = stateOf(room);
  const p = s.current && s.proposals.get(s.current);
  replace($('#onetext-view'), p ? proposalView(app, s, p) : null);
  replace($('#onetext-ranges'), rangeList(app, s));
  const parties = partiesInOrder(room).filter((x) => !x.left);
  for (const [sel, pick] of [[$('#range-ceiling'), 0], [$('#range-floor'), 1]]) {
    const keep = sel.value;
    replace(sel, parties.map((x) => h('option', { value: x.id }, x.display_name)));
    if (parties.some((x) => x.id === keep)) sel.value = keep;
    else if (parties[pick]) sel.value = parties[pick].id;
  }
  const saveVersion = $('[data-testid="proposal-save"]');
  setText(saveVersion, p ? 'console.onetext.saveNew' : 'console.onetext.saveFirst');
  saveVersion.disabled = Boolean(p && p.concluded);
}

function editor(app, s) {
  const current = () => s.current && s.proposals.get(s.current);
  const title = h('input', { id: 'onetext-title', required: true, maxlength: 200, testid: 'proposal-title' });
  const clauses = h('textarea', { id: 'onetext-clauses', rows: 5, required: true, testid: 'proposal-clauses' });
  const status = h('p', { class: 'form-status', role: 'status', testid: 'proposal-save-status' });
  const saveNew = h('button', { type: 'button', class: 'secondary', testid: 'proposal-new', i18n: 'console.onetext.saveAsNew' });
  const saveVersion = h('button', { type: 'submit', class: 'primary', testid: 'proposal-save', i18n: 'console.onetext.saveFirst' });
  const save = async (asNew) => {
    const p = current();
    const lines = clauses.value.split('\n').map((l) => l.trim()).filter(Boolean);
    if (!title.value.trim() || !lines.length) {
      say(status, K('needed'));
      return;
    }
    const frame = { type: 'propose', title: title.value.trim(), clauses: lines };
    if (!asNew && p) {
      frame.proposal_id = p.id;
      frame.base_version = p.versions.size;
    }
    try {
      const ack = await request(app, frame);
      s.current = ack.proposal_id;
      say(status, K('saved', { version: ack.version }));
    } catch (err) {
      say(status, describeError(err));
    }
  };
  const form = h(
    'form',
    { testid: 'proposal-editor', on: { submit: (ev) => { ev.preventDefault(); save(!current()); } } },
    h('div', { class: 'field' }, h('label', { for: 'onetext-title', i18n: 'console.onetext.title' }), title),
    h('div', { class: 'field' }, h('label', { for: 'onetext-clauses', i18n: 'console.onetext.clauses' }), clauses),
    h('div', { class: 'button-row' }, saveVersion, saveNew),
    status,
  );
  saveNew.addEventListener('click', () => save(true));
  return form;
}

function proposalView(app, s, p) {
  const room = app.room;
  const n = p.versions.size;
  const v = p.versions.get(n);
  const prev = p.versions.get(n - 1);
  const marks = prev ? clauseMarks(prev.clauses, v.clauses) : v.clauses.map(() => '');
  const parties = partiesInOrder(room).filter((x) => !x.left);
  const boxes = parties.map((party) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', value: party.id, checked: true, testid: 'onetext-party' }), ` ${party.display_name}`));
  const out = h('p', { class: 'form-status', role: 'status', testid: 'onetext-status' });
  const chosen = () => boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
  const act = async (frame, done) => {
    try {
      await request(app, frame);
      say(out, done);
    } catch (err) {
      say(out, describeError(err));
    }
  };
  const share = h('button', { type: 'button', class: 'secondary', testid: 'proposal-share', i18n: K('share', { version: n }) });
  share.addEventListener('click', () => act({ type: 'share', proposal_id: p.id, version: n, to: chosen() }, K('shared', { version: n })));
  const callBtn = h('button', { type: 'button', class: 'primary', testid: 'proposal-call', i18n: K('askDecision', { version: n }) });
  callBtn.addEventListener('click', () => act({ type: 'call_decision', proposal_id: p.id, version: n, parties: chosen() }, K('decisionRequested')));
  const rows = parties.map((party) => {
    const d = p.decisions.get(party.id);
    const verdict = d && T(d.verdict === 'accept' ? 'accepted' : 'declined', { version: d.version });
    const decision = d ? (d.note ? T('withNote', { decision: verdict, note: d.note }) : verdict) : p.call && p.call.parties.includes(party.id) ? T('asked') : '—';
    return h('tr', { testid: 'onetext-party-row', dataset: { partyId: party.id } },
      h('th', { scope: 'row' }, party.display_name),
      h('td', {}, p.shown.has(party.id) ? `v${p.shown.get(party.id)}` : T('notShown')),
      h('td', {}, String(p.comments.get(party.id) || 0)),
      h('td', { testid: 'onetext-decision' }, decision));
  });
  const items = [
    h('h3', { testid: 'proposal-heading' }, T('heading', { title: v.title, version: n })),
    h('p', { class: 'hint' }, T('hash', { hash: v.hash.slice(0, 16) }), prev ? ` · ${T('highlighted')}` : ''),
    h('ol', { class: 'clauses' }, ...v.clauses.map((c, i) => h('li', { class: `clause ${marks[i]}`, dataset: { change: marks[i] } }, c))),
    h('table', { class: 'onetext-status' },
      h('thead', {}, h('tr', {}, h('th', {}, T('party')), h('th', {}, T('shown')), h('th', {}, T('comments')), h('th', {}, T('decision')))),
      h('tbody', {}, ...rows)),
  ];
  if (p.concluded) {
    const dl = h('button', { type: 'button', class: 'primary', testid: 'agreement-download' }, T('download'));
    dl.addEventListener('click', async () => {
      try {
        const res = await call(app, 'GET', `/api/rooms/${room.id}/agreements/${p.id}`, undefined, { raw: true });
        downloadBlob(await res.blob(), `agreement-v${p.call.version}.html`);
      } catch (err) {
        flash(out, describeError(err));
      }
    });
    items.push(h('p', { testid: 'agreement-concluded' }, h('strong', {}, T('concluded', { version: p.call.version }))), dl);
  } else {
    items.push(h('fieldset', {}, h('legend', {}, T('parties')), ...boxes), h('div', { class: 'button-row' }, share, callBtn));
  }
  items.push(out);
  if (s.proposals.size > 1) {
    const pick = h('select', { 'aria-label': T('proposal'), testid: 'proposal-pick' },
      ...[...s.proposals.values()].map((x) => h('option', { value: x.id, selected: x.id === p.id }, x.versions.get(x.versions.size)?.title || x.id)));
    pick.addEventListener('change', () => { s.current = pick.value; render(app); });
    items.unshift(pick);
  }
  return h('section', { class: 'onetext-proposal', testid: 'proposal-view' }, ...items);
}

function rangeForm(app) {
  const title = h('input', { required: true, maxlength: 200, testid: 'range-title', i18nAttrs: { 'aria-label': 'console.onetext.question' } });
  const unit = h('input', { maxlength: 40, testid: 'range-unit', i18nAttrs: { 'aria-label': 'console.onetext.unit', placeholder: 'console.onetext.unitPlaceholder' } });
  const ceiling = h('select', { id: 'range-ceiling', testid: 'range-ceiling', i18nAttrs: { 'aria-label': 'console.onetext.givesCeiling' } });
  const floor = h('select', { id: 'range-floor', testid: 'range-floor', i18nAttrs: { 'aria-label': 'console.onetext.givesFloor' } });
  const see = h('input', { type: 'checkbox', testid: 'range-ombuds-see' });
  const out = h('p', { class: 'form-status', role: 'status' });
  const form = h('form', { testid: 'range-form', on: { submit: async (ev) => {
    ev.preventDefault();
    try {
      await request(app, { type: 'range_open', title: title.value.trim(), unit: unit.value.trim(), ceilings: [ceiling.value], floors: [floor.value], ombuds_see_bounds: see.checked });
    } catch (err) {
      say(out, describeError(err));
    }
  } } },
  h('h3', { i18n: 'console.onetext.range' }),
  title, unit,
  h('label', {}, h('span', { i18n: 'console.onetext.ceiling' }), ' ', ceiling), h('label', {}, h('span', { i18n: 'console.onetext.floor' }), ' ', floor),
  h('label', { class: 'check' }, see, ' ', h('span', { i18n: 'console.onetext.ombudsSee' })),
  h('button', { type: 'submit', class: 'secondary', testid: 'range-open', i18n: 'console.onetext.openQuestion' }), out);
  return form;
}

function rangeList(app, s) {
  const room = app.room;
  const out = $('#onetext-range-error');
  return [...s.ranges.values()].map((r) => {
    const ev = r.event;
    const pr = r.progress;
    const lines = [h('strong', {}, ev.title), ` (${ev.unit || T('noUnit')}) · `,
      T('answered', { answered: pr ? pr.submitted.length : 0, total: ev.seats.length }),
      pr && pr.overlap !== undefined && pr.overlap !== null ? ` · ${T(pr.overlap ? 'overlap' : 'noOverlap')}` : '',
      pr && pr.bounds ? ` · ${pr.bounds.map((b) => `${nameOf(room, b.party_id)}: ${b.value}`).join(', ')}` : ''];
    if (r.closed) {
      const closed = T(r.closed.overlap === true ? 'closedRoom' : r.closed.overlap === false ? 'closedNotYet' : 'closedPlain');
      const suggested = r.closed.suggestion !== undefined && r.closed.suggestion !== null ? T('suggested', { value: r.closed.suggestion }) : '';
      lines.push(` · ${closed}${suggested ? `, ${suggested}` : ''}`);
      return h('li', { testid: 'range-item' }, ...lines);
    }
    const reveal = h('button', { type: 'button', class: 'secondary', testid: 'range-reveal' }, T('close'));
    const suggest = h('button', { type: 'button', class: 'secondary', testid: 'range-suggest' }, T('closeMidpoint'));
    reveal.addEventListener('click', () => request(app, { type: 'range_close', range_id: ev.range_id, reveal: true }).catch((e) => flash(out, describeError(e))));
    suggest.addEventListener('click', () => request(app, { type: 'range_close', range_id: ev.range_id, reveal: true, suggest: true }).catch((e) => flash(out, describeError(e))));
    return h('li', { testid: 'range-item' }, ...lines, h('div', { class: 'button-row' }, reveal, suggest));
  });
}

/** Every event of the open room passes here; this module takes its own. */
export function oneTextEvent(app, event) {
  const room = app.room;
  if (!room) return;
  const s = stateOf(room);
  switch (event.kind) {
    case 'message':
      if (!event.comment_on) return;
      proposal(s, event.comment_on.proposal_id).comments.set(event.author.id, (proposal(s, event.comment_on.proposal_id).comments.get(event.author.id) || 0) + 1);
      break;
    case 'proposal_version': {
      const p = proposal(s, event.proposal_id);
      p.versions.set(event.version, event);
      s.current = event.proposal_id;
      break;
    }
    case 'proposal_shown':
      proposal(s, event.proposal_id).shown.set(event.party_id, event.version);
      break;
    case 'decision_requested': {
      if (!event.parties) return;
      const p = proposal(s, event.proposal_id);
      p.call = { version: event.version, parties: event.parties };
      p.decisions.clear();
      break;
    }
    case 'decided':
      proposal(s, event.proposal_id).decisions.set(event.party_id, event);
      break;
    case 'agreement_concluded':
      proposal(s, event.proposal_id).concluded = true;
      break;
    case 'range_opened':
      s.ranges.set(event.range_id, { event, progress: null, closed: null });
      break;
    case 'range_progress': {
      const r = s.ranges.get(event.range_id);
      if (r) r.progress = event;
      break;
    }
    case 'range_closed': {
      const r = s.ranges.get(event.range_id);
      if (r) r.closed = event;
      break;
    }
    default:
      return;
  }
  render(app);
}

/** What events change is drawn with words around data: drawn again in a new language. */
export function wireOneText(app) {
  onLanguageChange(() => render(app));
}

/** Draw the editor and the range form when a room opens. */
export function renderOneText(app) {
  const root = $('#onetext-console');
  if (!root || !app.room) return;
  const s = stateOf(app.room);
  replace(
    root,
    editor(app, s),
    h('div', { id: 'onetext-view' }),
    h('section', { class: 'onetext-ranges' },
      rangeForm(app),
      h('p', { class: 'error', id: 'onetext-range-error', role: 'alert', hidden: true }),
      h('ul', { class: 'ranges', id: 'onetext-ranges' })),
  );
  render(app);
}
