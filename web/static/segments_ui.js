// segments_ui.js - the drift page's segment controls: which categorical
// column splits the report (GET .../drift?segment=<column>), which of its
// segments the page shows, and the table of every segment with its drift.
// A segment is shown through the same tiles, columns table and histograms
// as the whole window: segmentView() gives it the report's shape.

import { h, fill, badge, fmtNum, empty, table } from './dom.js';

// A segment's identity on the page: its value, or OTHER for the rest of
// the values (a category may itself be called "__other__"; the server's
// `other: true` tells them apart, and no category text holds a NUL).
const OTHER = '\u0000other';
function segId(s) {
  return s.other ? OTHER : s.value;
}

// The label of a segment identity: null is the rows whose value is missing.
export function segmentLabel(v) {
  if (v === OTHER) return '(other values)';
  return v === null ? '(missing)' : v;
}

// The key of a segment value in a <select> (values are strings or null).
function key(v) {
  return v === null ? '\u0000null' : 's:' + v;
}

// The report restricted to one segment: its rows, reference rows, dataset,
// columns and performance in place of the whole window's; the report
// itself when no segment is chosen (or it is gone from the report).
export function segmentView(report, value) {
  if (!report || value === undefined || !Array.isArray(report.segments)) return report;
  const s = report.segments.find((x) => segId(x) === value);
  if (!s) return report;
  return Object.assign({}, report, {
    window: Object.assign({}, report.window, { count: s.count }),
    reference: Object.assign({}, report.reference || report.baseline, { count: (s.reference || {}).count }),
    dataset: s.dataset, columns: s.columns, performance: s.performance,
  });
}

// Controls and the segments card. onChange({column, value}) is called when
// the split column or the shown segment changes (value undefined: every
// row).
export function segmentControls(onChange) {
  const selColumn = h('select', { id: 'segment-column', 'aria-label': 'segment by column' }, h('option', { value: '' }, 'none'));
  const selValue = h('select', { id: 'segment-value', 'aria-label': 'segment shown', disabled: true }, h('option', { value: '' }, 'all rows'));
  let column = '';
  let value;
  let values = [];
  selColumn.addEventListener('change', () => {
    column = selColumn.value;
    value = undefined;
    onChange({ column, value });
  });
  selValue.addEventListener('change', () => {
    const i = selValue.selectedIndex - 1;
    value = i >= 0 ? values[i] : undefined;
    onChange({ column, value });
  });
  const { table: stable, body: sbody } = table(['Segment', 'Rows', 'Reference rows', 'Drift share', 'Drifted', 'Drifted columns'], 'segments-table');
  stable.id = 'segments-table';
  const cardEl = h('section.card', { id: 'segments-card', hidden: true },
    h('div.card-head', h('h2', 'Segments'), h('span.muted.small', 'top 20 values by rows in the window; click a row to show it')),
    h('div.table-wrap', stable));

  // Fills the column choice from a report's categorical columns (kept
  // when the report is split, whose segments leave their column out).
  function setColumns(report) {
    if (!report || column) return;
    const cats = (report.columns || []).filter((c) => c.type === 'categorical').map((c) => c.name);
    const have = Array.from(selColumn.options).slice(1).map((o) => o.value);
    if (cats.join('\u0000') === have.join('\u0000')) return;
    fill(selColumn, h('option', { value: '' }, 'none'), cats.map((c) => h('option', { value: c }, c)));
  }

  function render(report) {
    setColumns(report);
    const segs = (report && report.segments) || [];
    cardEl.hidden = !column;
    selValue.disabled = !column || !segs.length;
    values = segs.map(segId);
    if (value !== undefined && !values.some((v) => v === value)) value = undefined;
    fill(selValue, h('option', { value: '' }, 'all rows'),
      segs.map((s) => h('option', { value: key(segId(s)), selected: segId(s) === value }, segmentLabel(segId(s)) + ' (' + fmtNum(s.count) + ')')));
    if (!column) return;
    if (!segs.length) {
      fill(sbody, empty('No segments: the window has no rows.', 6));
      return;
    }
    fill(sbody, segs.map((s) => {
      const d = s.dataset || {};
      const tr = h('tr.clickable', {
        class: [d.drifted ? 'drifted' : '', segId(s) === value ? 'selected' : ''].join(' '),
        dataset: { segment: s.value === null ? '' : s.value }, tabindex: 0,
      },
      h('td', h('strong', segmentLabel(segId(s)))),
      h('td.num', fmtNum(s.count)),
      h('td.num', fmtNum((s.reference || {}).count)),
      h('td.num', fmtNum(d.drift_share, 3)),
      h('td', d.drifted ? badge('drifting', 'bad') : badge('no', 'ok')),
      h('td.num', fmtNum(d.drifted_columns) + ' / ' + fmtNum(d.evaluated_columns)));
      const pick = () => { value = segId(s); onChange({ column, value }); };
      tr.addEventListener('click', pick);
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') pick(); });
      return tr;
    }));
  }

  return {
    selColumn, selValue, card: cardEl, render,
    get column() { return column; },
    get value() { return value; },
  };
}
