// The trends report as an SVG bar chart (built with DOM APIs, no library),
// with the same numbers in a table for screen readers and keyboard users.
// A suppressed count (under the threshold, possibly zero) is drawn as a short
// dashed stub labelled "<threshold": small, and not claiming any height.

import { h, svg, replace } from './dom.js';
import { t } from './i18n.js';

const HEIGHT = 220;
const TOP = 24;
const BOTTOM = 40;
const LEFT = 36;
const BAR = 12;
const GAP = 3;
const GROUP_GAP = 18;
const STUB = 8;
const SERIES = 8;

/** Every month from `from` to `to` inclusive, as YYYY-MM. */
export function monthRange(from, to) {
  const out = [];
  let [y, m] = from.split('-').map(Number);
  const [ty, tm] = to.split('-').map(Number);
  if (!y || !m || !ty || !tm) return out;
  while ((y < ty || (y === ty && m <= tm)) && out.length < 240) {
    out.push(`${y}-${String(m).padStart(2, '0')}`);
    m += 1;
    if (m > 12) {
      m = 1;
      y += 1;
    }
  }
  return out;
}

export function renderTrends(container, report) {
  const rows = report.rows || [];
  const threshold = report.threshold;
  if (rows.length === 0) {
    replace(container, h('p', { class: 'empty', testid: 'trends-empty', i18n: 'console.trends.empty' }));
    return;
  }
  const monthsWithData = new Set(rows.map((r) => r.month));
  const months = monthRange(report.from, report.to).filter((m) => monthsWithData.has(m));
  for (const m of monthsWithData) if (!months.includes(m)) months.push(m);
  months.sort();
  const categories = [...new Set(rows.map((r) => r.category))];
  const cell = new Map(rows.map((r) => [`${r.month}\u0000${r.category}`, r]));

  const maxValue = Math.max(threshold || 1, ...rows.map((r) => (r.suppressed ? 0 : r.count || 0)));
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const groupWidth = categories.length * (BAR + GAP) - GAP;
  const width = LEFT + months.length * (groupWidth + GROUP_GAP) + GROUP_GAP;
  const y = (v) => TOP + plotHeight - (v / maxValue) * plotHeight;

  const titleId = 'trends-chart-title';
  const descId = 'trends-chart-desc';
  const chart = svg('svg', {
    class: 'trends-chart',
    viewBox: `0 0 ${width} ${HEIGHT}`,
    width,
    height: HEIGHT,
    role: 'img',
    'aria-labelledby': `${titleId} ${descId}`,
    'data-testid': 'trends-chart',
  });
  chart.append(
    svg('title', { id: titleId }, t('console.trends.chartTitle', { from: report.from, to: report.to })),
    svg('desc', { id: descId }, t('console.trends.thresholdNote', { threshold })),
  );

  // Axis and a few gridlines.
  const ticks = niceTicks(maxValue);
  for (const t of ticks) {
    chart.append(
      svg('line', { class: 'grid', x1: LEFT, x2: width, y1: y(t), y2: y(t) }),
      svg('text', { class: 'tick', x: LEFT - 6, y: y(t) + 4, 'text-anchor': 'end' }, String(t)),
    );
  }
  chart.append(svg('line', { class: 'axis', x1: LEFT, x2: width, y1: y(0), y2: y(0) }));
  if (threshold) {
    chart.append(
      svg('line', { class: 'threshold', x1: LEFT, x2: width, y1: y(threshold), y2: y(threshold) }),
      svg('text', { class: 'tick', x: width - 4, y: y(threshold) - 4, 'text-anchor': 'end' }, t('console.trends.thresholdLine', { threshold })),
    );
  }

  months.forEach((month, mi) => {
    const gx = LEFT + GROUP_GAP + mi * (groupWidth + GROUP_GAP);
    categories.forEach((category, ci) => {
      const row = cell.get(`${month}\u0000${category}`);
      if (!row) return;
      const x = gx + ci * (BAR + GAP);
      const series = `series-${ci % SERIES}`;
      const label = row.suppressed ? `<${threshold}` : String(row.count ?? 0);
      const top = row.suppressed ? y(0) - STUB : y(row.count || 0);
      const bar = svg('rect', {
        class: row.suppressed ? `bar suppressed ${series}` : `bar ${series}`,
        x,
        y: top,
        width: BAR,
        height: Math.max(0, y(0) - top),
        'data-testid': 'trends-bar',
        'data-month': month,
        'data-category': category,
        'data-suppressed': String(Boolean(row.suppressed)),
      });
      bar.append(svg('title', {}, `${category}, ${month}: ${row.suppressed ? t('console.trends.hidden', { threshold }) : row.count}`));
      chart.append(
        bar,
        svg('text', { class: row.suppressed ? 'bar-label muted' : 'bar-label', x: x + BAR / 2, y: top - 4, 'text-anchor': 'middle', 'data-testid': 'trends-bar-label' }, label),
      );
    });
    chart.append(svg('text', { class: 'month', x: gx + groupWidth / 2, y: HEIGHT - BOTTOM + 18, 'text-anchor': 'middle' }, month));
  });

  const legend = h(
    'ul',
    { class: 'legend', testid: 'trends-legend' },
    categories.map((c, ci) => h('li', {}, h('span', { class: `swatch series-${ci % SERIES}`, 'aria-hidden': 'true' }), c)),
    h('li', {}, h('span', { class: 'swatch suppressed', 'aria-hidden': 'true' }), t('console.trends.hidden', { threshold })),
  );

  const table = h(
    'table',
    { class: 'trends-table', testid: 'trends-table' },
    h('caption', { i18n: 'console.trends.caption' }),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', i18n: 'console.trends.month' }), categories.map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      {},
      months.map((m) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, m),
          categories.map((c) => {
            const row = cell.get(`${m}\u0000${c}`);
            return h('td', {}, !row ? '0' : row.suppressed ? `<${threshold}` : String(row.count ?? 0));
          }),
        ),
      ),
    ),
  );

  replace(
    container,
    h('div', { class: 'chart-scroll' }, chart),
    legend,
    h('details', {}, h('summary', { i18n: 'console.trends.showTable' }), table),
  );
}

function niceTicks(max) {
  const step = max <= 5 ? 1 : max <= 10 ? 2 : Math.ceil(max / 5 / 5) * 5;
  const out = [];
  for (let t = 0; t <= max; t += step) out.push(t);
  return out;
}
