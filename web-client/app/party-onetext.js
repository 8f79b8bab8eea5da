// The party's side of the single negotiating text: each proposal version it
// was shown, with the clauses that changed since the last one highlighted,
// a private comment on the whole or on one clause, the decision the ombud
// asks for (bound to that exact version's hash), the download of a
// concluded agreement, and range questions (a private bound).
//
// Everything here comes from the party's own inbox, so a reload rebuilds it
// from the replay. `ctx` gives the connection and the token; this module
// keeps its own state and only renders into `#onetext`.

import { api, errorMessage } from './api.js';
import { $, h, replace, show, downloadBlob, randomId } from './dom.js';
import { setText } from './i18n.js';

/** Show an error in `el` in the page's language. */
function showError(el, err) {
  setText(el, ...errorMessage(err));
  show(el, true);
}

const proposals = new Map(); // proposal id -> {version, hash, title, clauses, changes, call, concluded, el}
const ranges = new Map(); // range id -> {event, bound, closed, el}

export function createOneText(ctx) {
  const panel = $('#onetext');
  const list = $('#onetext-items');

  function reveal() {
    show(panel, true);
  }

  /** A state-changing request, safe to retry under its own key. */
  function request(frame) {
    return ctx.conn().request({ ...frame, idempotency_key: randomId() }, { retry: true });
  }

  function renderProposal(p) {
    const changed = new Map();
    for (const c of p.changes || []) if (c.clause) changed.set(c.clause, c);
    const removed = (p.changes || []).filter((c) => c.kind === 'removed');
    const status = h('p', { class: 'form-status', role: 'status', testid: 'proposal-status' });
    const clauses = p.clauses.map((text, i) => {
      const n = i + 1;
      const c = changed.get(n);
      const li = h(
        'li',
        { class: `clause${c ? ` ${c.kind}` : ''}`, testid: 'proposal-clause', dataset: { clause: String(n), change: c ? c.kind : '' } },
        h('span', { class: 'clause-text' }, text),
        c ? h('span', { class: 'clause-change' }, ' ', h('span', { i18n: c.kind === 'added' ? 'party.proposal.new' : 'party.proposal.changed' })) : null,
        c && c.before ? h('del', { class: 'clause-before' }, c.before) : null,
      );
      const button = h('button', { type: 'button', class: 'link', testid: 'clause-comment', i18n: ['party.proposal.commentClause', { clause: n }] });
      button.addEventListener('click', () => openComment(p, n, li));
      li.append(button);
      return li;
    });
    const whole = h('button', { type: 'button', class: 'secondary', testid: 'proposal-comment', i18n: 'party.proposal.commentWhole' });
    const card = h(
      'li',
      { class: 'onetext-card', testid: 'proposal-card', dataset: { proposalId: p.id, version: String(p.version) } },
      h('h3', { i18n: ['party.proposal.heading', { title: p.title, version: p.version }] }),
      p.since ? h('p', { class: 'hint', i18n: ['party.proposal.since', { version: p.since }] }) : null,
      h('ol', { class: 'clauses' }, ...clauses),
      removed.length
        ? h('p', { class: 'hint' }, h('span', { i18n: 'party.proposal.removed' }), ' ', ...removed.map((c) => h('del', {}, c.before || '')))
        : null,
      h('div', { class: 'button-row' }, whole),
      decisionBlock(p),
      status,
    );
    whole.addEventListener('click', () => openComment(p, null, card));
    if (p.el) p.el.replaceWith(card);
    else list.append(card);
    p.el = card;
  }

  function openComment(p, clause, where) {
    if (where.querySelector('.comment-form')) return;
    const input = h('textarea', { rows: 2, maxlength: 16000, testid: 'comment-input', i18nAttrs: { 'aria-label': 'party.proposal.commentLabel' } });
    const send = h('button', { type: 'submit', class: 'primary', testid: 'comment-send', i18n: 'party.proposal.commentSend' });
    const out = h('p', { class: 'form-status', role: 'status' });
    const form = h('form', { class: 'comment-form' }, input, h('div', { class: 'button-row' }, send), out);
    const clientId = randomId();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = input.value.trim();
      if (!body) return;
      send.disabled = true;
      const frame = { type: 'comment', proposal_id: p.id, version: p.version, body, client_id: clientId };
      if (clause) frame.clause = clause;
      try {
        await ctx.conn().request(frame, { retry: true });
        form.replaceWith(h('p', { class: 'hint', testid: 'comment-sent', i18n: 'party.proposal.commentSent' }));
      } catch (err) {
        setText(out, ...errorMessage(err));
        send.disabled = false;
      }
    });
    where.append(form);
    input.focus();
  }

  function decisionBlock(p) {
    if (p.concluded) {
      const html = h('button', { type: 'button', class: 'primary', testid: 'agreement-download', i18n: 'party.proposal.download' });
      const txt = h('button', { type: 'button', class: 'secondary', testid: 'agreement-download-txt', i18n: 'party.proposal.downloadTxt' });
      const err = h('p', { class: 'error', role: 'alert', hidden: true });
      html.addEventListener('click', () => download(p, 'html', err));
      txt.addEventListener('click', () => download(p, 'txt', err));
      return h(
        'div',
        { class: 'decision-block concluded', testid: 'agreement-concluded' },
        h('p', {}, h('strong', { i18n: 'party.proposal.concluded' }), ' ', h('span', { i18n: 'party.proposal.concludedAll' })),
        h('p', { class: 'hint', i18n: 'party.proposal.keepCopy' }),
        h('div', { class: 'button-row' }, html, txt),
        err,
      );
    }
    if (!p.call || p.call.version !== p.version) return null;
    if (p.call.verdict) {
      return h('p', { class: 'decision-block', testid: 'decision-made', i18n: p.call.verdict === 'accept' ? 'party.proposal.accepted' : 'party.proposal.declined' });
    }
    const note = h('input', { type: 'text', maxlength: 2000, testid: 'decline-note', i18nAttrs: { 'aria-label': 'party.proposal.declineNote', placeholder: 'party.proposal.declineNote' } });
    const accept = h('button', { type: 'button', class: 'primary', testid: 'decision-accept', i18n: 'party.proposal.accept' });
    const decline = h('button', { type: 'button', class: 'secondary', testid: 'decision-decline', i18n: 'party.proposal.decline' });
    const out = h('p', { class: 'form-status', role: 'status' });
    const decide = async (verdict) => {
      accept.disabled = true;
      decline.disabled = true;
      const frame = { type: 'decide', proposal_id: p.id, version: p.version, hash: p.call.hash, verdict };
      if (verdict === 'decline' && note.value.trim()) frame.note = note.value.trim();
      try {
        await request(frame);
      } catch (err) {
        setText(out, ...errorMessage(err));
        accept.disabled = false;
        decline.disabled = false;
      }
    };
    accept.addEventListener('click', () => decide('accept'));
    decline.addEventListener('click', () => decide('decline'));
    return h(
      'div',
      { class: 'decision-block', testid: 'decision-request' },
      h('p', {}, h('strong', { i18n: 'party.proposal.asks' })),
      h('p', { class: 'hint', i18n: 'party.proposal.answerPrivate' }),
      note,
      h('div', { class: 'button-row' }, accept, decline),
      out,
    );
  }

  async function download(p, format, err) {
    show(err, false);
    try {
      const res = await api('GET', `/api/agreements/${p.id}?format=${format}`, { token: ctx.token(), raw: true });
      downloadBlob(await res.blob(), `agreement-v${p.version}.${format}`);
    } catch (e) {
      showError(err, e);
    }
  }

  function renderRange(r) {
    const ev = r.event;
    const ask = `${ev.side === 'ceiling' ? 'askCeiling' : 'askFloor'}${ev.unit ? 'Unit' : ''}`;
    const children = [
      h('h3', {}, ev.title),
      h('p', { i18n: [`party.range.${ask}`, { unit: ev.unit }] }),
      h('p', { class: 'hint', i18n: ev.ombuds_see_bounds ? 'party.range.ombudsSee' : 'party.range.nobodySees' }),
    ];
    if (r.bound !== undefined) children.push(h('p', { testid: 'range-bound', i18n: ['party.range.yourBound', { value: r.bound }] }));
    if (r.closed) {
      const c = r.closed;
      const outcome = c.overlap === true ? 'overlap' : c.overlap === false ? 'noOverlap' : 'closed';
      const suggested = c.suggestion !== undefined && c.suggestion !== null;
      children.push(h(
        'p',
        { testid: 'range-outcome' },
        h('strong', { i18n: `party.range.${outcome}` }),
        suggested ? [' ', h('span', { i18n: [ev.unit ? 'party.range.suggestionUnit' : 'party.range.suggestion', { value: c.suggestion, unit: ev.unit }] })] : null,
      ));
    } else {
      const input = h('input', { type: 'number', step: '1', inputmode: 'numeric', required: true, testid: 'range-input', i18nAttrs: { 'aria-label': 'party.range.label' } });
      const submit = h('button', { type: 'submit', class: 'primary', testid: 'range-submit', i18n: r.bound === undefined ? 'party.range.submit' : 'party.range.revise' });
      const out = h('p', { class: 'form-status', role: 'status' });
      const form = h('form', { class: 'inline-form' }, input, submit, out);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const value = Number.parseInt(input.value, 10);
        if (!Number.isSafeInteger(value)) return;
        submit.disabled = true;
        try {
          await request({ type: 'range_bound', range_id: ev.range_id, value });
        } catch (err) {
          setText(out, ...errorMessage(err));
          submit.disabled = false;
        }
      });
      children.push(form);
    }
    const card = h('li', { class: 'onetext-card', testid: 'range-card', dataset: { rangeId: ev.range_id } }, ...children);
    if (r.el) r.el.replaceWith(card);
    else list.append(card);
    r.el = card;
  }

  /** Handles an event of this feature; false for any other. */
  function onEvent(event) {
    switch (event.kind) {
      case 'proposal_shared': {
        const old = proposals.get(event.proposal_id);
        const p = { ...event, id: event.proposal_id, call: old && old.call, concluded: false, el: old && old.el };
        proposals.set(p.id, p);
        renderProposal(p);
        break;
      }
      case 'decision_requested': {
        const p = proposals.get(event.proposal_id);
        if (!p) return true;
        p.call = { version: event.version, hash: event.hash, verdict: null };
        renderProposal(p);
        break;
      }
      case 'decided': {
        const p = proposals.get(event.proposal_id);
        if (!p || !p.call || p.call.version !== event.version) return true;
        p.call.verdict = event.verdict;
        renderProposal(p);
        break;
      }
      case 'agreement_concluded': {
        const p = proposals.get(event.proposal_id);
        if (!p) return true;
        p.concluded = true;
        renderProposal(p);
        break;
      }
      case 'range_opened': {
        const r = { event, el: null };
        ranges.set(event.range_id, r);
        renderRange(r);
        break;
      }
      case 'range_bound_set': {
        const r = ranges.get(event.range_id);
        if (!r) return true;
        r.bound = event.value;
        renderRange(r);
        break;
      }
      case 'range_closed': {
        const r = ranges.get(event.range_id);
        if (!r) return true;
        r.closed = event;
        renderRange(r);
        break;
      }
      default:
        return false;
    }
    reveal();
    return true;
  }

  replace(list);
  return { onEvent };
}
