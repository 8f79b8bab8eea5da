// The trends view: the month range (the last twelve months until the ombud
// picks others) and fetching the report; trends.js draws it.

import { describeError } from '../api.js';
import { $, replace, show, flash } from '../dom.js';
import { renderTrends } from '../trends.js';
import { onLanguageChange } from '../i18n.js';
import { call } from './session.js';

let shown = null; // the report on screen, drawn again in a new language

function defaultMonths() {
  const now = new Date();
  const to = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}`;
  const start = new Date(now.getFullYear(), now.getMonth() - 11, 1);
  const from = `${start.getFullYear()}-${String(start.getMonth() + 1).padStart(2, '0')}`;
  return { from, to };
}

export async function showTrends(app) {
  const fromInput = $('#trends-from');
  const toInput = $('#trends-to');
  if (!fromInput.value || !toInput.value) {
    const d = defaultMonths();
    fromInput.value = d.from;
    toInput.value = d.to;
  }
  const error = $('#trends-error');
  show(error, false);
  const output = $('#trends-output');
  output.setAttribute('aria-busy', 'true');
  try {
    const report = await call(app, 'GET', `/api/reports/trends?from=${encodeURIComponent(fromInput.value)}&to=${encodeURIComponent(toInput.value)}`);
    shown = report;
    renderTrends(output, report);
  } catch (err) {
    shown = null;
    replace(output);
    flash(error, describeError(err));
  } finally {
    output.removeAttribute('aria-busy');
  }
}

export function wireTrends(app) {
  onLanguageChange(() => {
    if (shown) renderTrends($('#trends-output'), shown);
  });
  $('#trends-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    showTrends(app);
  });
}
