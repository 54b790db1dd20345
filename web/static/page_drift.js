// page_drift.js - #/models/<name>/versions/<v>/drift: the dataset drift
// share over time, the report's columns (method, statistic, threshold,
// verdict, data quality) and, for a chosen column, its reference vs current
// distribution, its quality figures and a statistic over time.

import { h, fill, badge, fmtNum, fmtRange, empty, table } from './dom.js';
import { api, path, isoAgo } from './api.js';
import { card } from './ui.js';
import { Chart } from './charts.js';
import { segmentControls, segmentView, segmentLabel } from './segments_ui.js';

const WINDOWS = [['3600', 'last hour'], ['21600', 'last 6 hours'], ['86400', 'last 24 hours'], ['604800', 'last 7 days']];
const RANGES = [['86400', '24 hours'], ['604800', '7 days'], ['2592000', '30 days']];
const COLUMN_METRICS = ['score', 'statistic', 'p_value', 'psi', 'jensen_shannon', 'ks_d', 'ks_p_value', 'wasserstein_norm', 'chi2_p_value', 'mean', 'missing',
  'missing_share', 'out_of_range_share', 'unseen_share', 'invalid_count'];
const REPORT_EVERY_MS = 15000;

export function mount(root, { model, version }, ctx) {
  const base = ['models', model, 'versions', version, 'drift'];
  let windowS = 3600;
  let rangeS = 86400;
  let column = null;
  let metric = 'score';
  let report = null;
  let reportAt = 0;
  let reportErr = null;
  let reference = null;
  let baseline = 'reference';

  // Segments: the report split by a categorical column; the page shows the
  // whole window or one segment (view()).
  const seg = segmentControls(({ column: c }) => {
    if (c !== (report && report.segment ? report.segment.column : '')) reportAt = 0;
    ctx.refresh();
  });
  const view = () => segmentView(report, seg.value);
  const selBaseline = h('select', { id: 'drift-baseline', 'aria-label': 'compared with' },
    h('option', { value: 'reference' }, 'reference set'), h('option', { value: 'previous_window' }, 'previous window'));
  selBaseline.addEventListener('change', () => { baseline = selBaseline.value; reportAt = 0; ctx.refresh(); });

  const selWindow = h('select', { id: 'drift-window', 'aria-label': 'report window' }, WINDOWS.map(([v, l]) => h('option', { value: v }, l)));
  selWindow.addEventListener('change', () => { windowS = Number(selWindow.value); reportAt = 0; ctx.refresh(); });
  const selRange = h('select', { id: 'drift-range', 'aria-label': 'history range' }, RANGES.map(([v, l]) => h('option', { value: v }, l)));
  selRange.addEventListener('change', () => { rangeS = Number(selRange.value); ctx.refresh(); });
  const selMetric = h('select', { id: 'column-metric', 'aria-label': 'column statistic' }, COLUMN_METRICS.map((m) => h('option', { value: m }, m)));
  selMetric.addEventListener('change', () => { metric = selMetric.value; ctx.refresh(); });

  const summary = h('div.tiles', { id: 'drift-summary' });
  const notice = h('div.notice', { hidden: true });
  const shareChartBox = h('div.chart', { id: 'share-chart' });
  const { table: ctable, body: cbody } = table(['Column', 'Type', 'Method', 'Statistic', 'p-value', 'Threshold', 'Drifted', 'PSI', 'Jensen-Shannon', ...QUALITY_HEADERS], 'columns-table');
  ctable.id = 'columns-table';
  const colTitle = h('h2', 'Column');
  const histBox = h('div.chart', { id: 'column-hist' });
  const histNote = h('p.muted.small');
  const qualityBox = h('div.quality', { id: 'column-quality' });
  const colChartBox = h('div.chart', { id: 'column-chart' });
  const colCard = h('section.card', { id: 'column-card', hidden: true },
    h('div.card-head', colTitle, h('div.card-actions', h('label.inline', 'statistic ', selMetric))),
    h('div.grid-2',
      h('div', h('h3', 'Reference vs current'), histBox, histNote, qualityBox),
      h('div', h('h3', { id: 'column-chart-title' }, 'Over time'), colChartBox)));

  fill(root,
    h('nav.crumbs', h('a', { href: '#/models' }, 'Models'), h('span', '/'),
      h('a', { href: '#/models/' + encodeURIComponent(model) }, model), h('span', '/'), h('span', 'v' + version + ' drift')),
    h('div.page-head',
      h('div', h('h1', 'Drift of ', model, ' v' + version), h('p.muted', 'Current window compared with this version\'s reference set.')),
      h('div.controls', h('label.inline', 'Report ', selWindow), h('label.inline', 'vs ', selBaseline),
        h('label.inline', 'Segment by ', seg.selColumn), h('label.inline', 'Show ', seg.selValue),
        h('label.inline', 'History ', selRange))),
    notice,
    summary,
    seg.card,
    card('Dataset drift share over time', null, shareChartBox),
    card('Columns', h('span.muted.small', 'click a row for its distribution and history'), h('div.table-wrap', ctable)),
    colCard);

  const shareChart = new Chart(shareChartBox, 220);
  const histChart = new Chart(histBox, 240);
  const colChart = new Chart(colChartBox, 240);

  function showNotice(text) {
    notice.hidden = !text;
    notice.textContent = text || '';
  }

  function renderSummary() {
    const r = view();
    if (!r) {
      fill(summary);
      return;
    }
    const d = r.dataset || {};
    const cols = r.columns || [];
    const nDrift = cols.filter((c) => c.drifted).length;
    const w = r.window || {};
    const side = r.baseline && r.baseline.type === 'previous_window' ? 'Previous window rows' : 'Reference rows';
    fill(summary,
      tile('Dataset drift share', fmtNum(d.drift_share, 3), d.drifted ? badge('drifting', 'bad') : badge('no drift', 'ok'), 'tile-share'),
      tile('Drifted columns', nDrift + ' / ' + cols.length, null),
      tile('Current rows', fmtNum(w.count), h('span.muted', fmtRange(w.from, w.to))),
      tile(side, fmtNum((r.reference || r.baseline || {}).count), null),
      seg.value !== undefined ? tile('Segment', segmentLabel(seg.value), h('span.muted', seg.column), 'tile-segment') : null,
      seg.value === undefined ? quarantineTile(w) : null, // not split by segment
      r.performance ? tile('Performance', perfText(r.performance), null) : null);
  }

  function renderColumns() {
    const report = view();
    const cols = (report && report.columns) || [];
    if (!cols.length) {
      fill(cbody, empty(report ? 'The report has no columns.' : 'No report.', 9 + QUALITY_HEADERS.length));
      return;
    }
    if (!column || !cols.some((c) => c.name === column)) {
      const drifted = cols.find((c) => c.drifted);
      column = (drifted || cols[0]).name;
    }
    fill(cbody, cols.map((c) => {
      const tr = h('tr.clickable', { class: [c.drifted ? 'drifted' : '', c.name === column ? 'selected' : ''].join(' '), dataset: { column: c.name }, tabindex: 0 },
        h('td', h('strong', c.name)),
        h('td', c.type),
        h('td', c.method),
        h('td.num', fmtNum(c.statistic)),
        h('td.num', fmtNum(c.p_value)),
        h('td.num', fmtNum(c.threshold)),
        h('td', c.drifted ? badge('drifted', 'bad') : badge('no', 'ok')),
        h('td.num', fmtNum(c.psi)),
        h('td.num', fmtNum(c.jensen_shannon)),
        ...qualityCells(c));
      const pick = () => { column = c.name; renderColumns(); ctx.refresh(); };
      tr.addEventListener('click', pick);
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') pick(); });
      return tr;
    }));
  }

  function renderColumnCard(colPoints) {
    const r = view();
    const c = r && (r.columns || []).find((x) => x.name === column);
    colCard.hidden = !c;
    if (!c) return;
    colTitle.textContent = 'Column ' + c.name + ' (' + c.type + ', ' + c.method + ')';
    const hist = histogramOf(c);
    if (hist) {
      histNote.textContent = hist.note || '';
      histChart.bars(hist.labels, [
        { label: 'reference', values: hist.reference, color: '#94a3b8' },
        { label: 'current', values: hist.current, color: '#2563eb' },
      ], { yLabel: hist.yLabel || 'share of rows', xLabel: c.type === 'categorical' ? 'category' : 'bin' });
    } else {
      renderFallback(c);
    }
    fill(qualityBox, qualityPanel(c));
    // Stored evaluations cover the whole window, not a segment.
    document.getElementById('column-chart-title').textContent = metric + ' over time' +
      (seg.value !== undefined ? ' (all rows)' : '');
    colChart.timeSeries([{ label: metric, points: byWindowEnd(colPoints) }],
      { threshold: metric === 'score' ? c.threshold : undefined });
  }

  // Without per-bin counts of the current window in the report, show what
  // the API has: the reference's category shares, and the summary
  // statistics of both sides.
  function renderFallback(c) {
    const rc = reference && (reference.columns || []).find((x) => x.name === c.name);
    const cs = c.stats || {};
    if (rc && rc.categories && Object.keys(rc.categories).length) {
      const cats = Object.entries(rc.categories).sort((a, b) => b[1] - a[1]);
      const total = cats.reduce((t, [, n]) => t + n, 0) || 1;
      histChart.bars(cats.map(([k]) => shortLabel(k)), [{ label: 'reference', values: cats.map(([, n]) => n / total), color: '#94a3b8' }],
        { yLabel: 'share of rows', xLabel: 'category' });
      histNote.textContent = 'Reference shares per category. The drift report has no per-category counts of the current window (only ' +
        fmtNum(cs.unique) + ' distinct values in ' + fmtNum(cs.count) + ' rows), so only the reference side is drawn.';
      return;
    }
    histChart.reset();
    const rows = [['rows', rc && rc.count, cs.count], ['missing', rc && rc.missing, cs.missing], ['mean', rc && rc.mean, cs.mean],
      ['std', rc && rc.std, cs.std], ['min', rc && rc.min, cs.min], ['max', rc && rc.max, cs.max]];
    for (const [q, v] of Object.entries(cs.quantiles || {})) rows.push(['q' + q, null, v]);
    const { table: t, body } = table(['', 'Reference', 'Current'], 'compare-table');
    fill(body, rows.map(([k, r, v]) => h('tr', h('td', k), h('td.num', fmtNum(r)), h('td.num', fmtNum(v)))));
    fill(histBox, t);
    histNote.textContent = 'The drift report has no per-bin counts of the current window, so no histogram can be drawn; summary statistics of both sides instead.';
  }

  async function refresh() {
    const from = isoAgo(rangeS);
    const now = Date.now();
    if (now - reportAt > REPORT_EVERY_MS) {
      try {
        const q = { from: isoAgo(windowS) };
        if (baseline !== 'reference') q.baseline = baseline;
        if (seg.column) q.segment = seg.column;
        report = await api.get(path(base, q));
        reportErr = null;
      } catch (e) {
        if (e.status === 401) throw e;
        report = null;
        reportErr = e;
      }
      reportAt = now;
      reference = await api.get(path(['models', model, 'versions', version, 'reference'])).catch(() => null);
    }
    let shareHist = null;
    let colHist = null;
    try {
      shareHist = await api.get(path([...base, 'history'], { metric: 'drift_share', from }));
    } catch (e) {
      if (e.status === 401) throw e;
      shareHist = { points: [], error: e };
    }
    if (reportErr) {
      const e = reportErr;
      showNotice('No drift report: ' + e.message);
    } else {
      showNotice('');
    }
    seg.render(report);
    renderSummary();
    renderColumns();
    const shareThreshold = report && report.dataset && typeof report.dataset.threshold === 'number' ? report.dataset.threshold : 0.5;
    shareChart.timeSeries([{ label: 'drift share', points: byWindowEnd(shareHist.points) }],
      { threshold: shareThreshold, yMin: 0, yMax: 1, emptyText: shareHist.error ? 'History unavailable: ' + shareHist.error.message : undefined });
    if (column) {
      try {
        colHist = await api.get(path([...base, 'history'], { column, metric, from }));
      } catch (e) {
        if (e.status === 401) throw e;
        colHist = { points: [] };
      }
    }
    renderColumnCard(colHist ? colHist.points : []);
  }

  return {
    refresh,
    destroy() { shareChart.destroy(); histChart.destroy(); colChart.destroy(); },
  };
}

// A stored evaluation describes the window it looked at: plot it at the
// window's end rather than at the moment it was computed.
function byWindowEnd(points) {
  return (points || []).map((p) => ({ at: (p.window && p.window.to) || p.at, value: p.value }));
}

// ---- data quality (the report's columns[].quality, window.quarantined) ----

const QUALITY_HEADERS = ['Missing', 'Out of range or unseen', 'Invalid'];

function pct(share) {
  return typeof share === 'number' ? fmtNum(100 * share, 3) + ' %' : '—';
}

// The quality share of a column that is not about missing values: out of
// the reference's range (numeric) or unseen in it (categorical).
function flaggedShare(q) {
  return q.out_of_range_share !== undefined ? q.out_of_range_share : q.unseen_share;
}

// The table cells of a column's quality: missing, out of range or unseen,
// invalid (quarantined) values.
function qualityCells(c) {
  const q = c.quality || {};
  const bad = (v) => (typeof v === 'number' && v > 0 ? 'td.num.warn' : 'td.num');
  return [
    h(bad(q.missing_share), { class: 'q-missing' }, pct(q.missing_share)),
    h(bad(flaggedShare(q)), { class: 'q-flagged' }, pct(flaggedShare(q))),
    h(bad(q.invalid_count), { class: 'q-invalid' }, fmtNum(q.invalid_count)),
  ];
}

// The quality figures of the chosen column, each with its count.
function qualityPanel(c) {
  const q = c.quality;
  if (!q) return null;
  const numeric = c.type === 'numeric';
  const rows = [
    ['Missing (null or NaN)', pct(q.missing_share), fmtNum(q.missing_count), 'share of all rows'],
    numeric
      ? ['Outside the reference range', pct(q.out_of_range_share), fmtNum(q.out_of_range_count), 'share of non-missing values']
      : ['Categories unseen in the reference', pct(q.unseen_share), fmtNum(q.unseen_count), 'share of non-missing values'],
    ['Invalid (quarantined)', '—', fmtNum(q.invalid_count), 'rows of the window kept in the quarantine'],
  ];
  const { table: t, body } = table(['Quality', 'Share', 'Count', ''], 'quality-table');
  t.id = 'quality-table';
  fill(body, rows.map(([k, share, n, note]) => h('tr', h('td', k), h('td.num', share), h('td.num', n), h('td.muted.small', note))));
  return [h('h3', 'Data quality'), t];
}

function quarantineTile(w) {
  if (!w || !w.quarantined) return null;
  return tile('Quarantined rows', fmtNum(w.quarantined), h('span.muted', 'invalid, kept with their errors'), 'tile-quarantine');
}

function tile(label, value, extra, cls) {
  return h('div.tile', { class: cls }, h('div.tile-label', label), h('div.tile-value', value), extra ? h('div.tile-extra', extra) : null);
}

function perfText(p) {
  return Object.entries(p).filter(([, v]) => typeof v === 'number').slice(0, 3).map(([k, v]) => k + ' ' + fmtNum(v, 3)).join(' · ') || '—';
}

// A hashed column's categories are 64 hex digits (docs/privacy.md): the
// first 12 tell them apart on an axis; the rest is noise to a reader.
const shortLabel = (s) => (/^[0-9a-f]{64}$/.test(s) ? s.slice(0, 12) + '…' : s);

// Normalises whatever per-bin data the report carries for a column into
// {labels, reference, current} shares; null when it has none.
export function histogramOf(c) {
  const toShares = (xs) => {
    const t = xs.reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0);
    return t > 0 ? xs.map((x) => (typeof x === 'number' ? x / t : 0)) : xs;
  };
  const hsrc = c.histogram || c.bins;
  if (hsrc && Array.isArray(hsrc.reference) && Array.isArray(hsrc.current)) {
    const n = hsrc.reference.length;
    let labels = hsrc.labels || hsrc.categories;
    if (!labels && Array.isArray(hsrc.edges) && hsrc.edges.length === n + 1)
      labels = hsrc.reference.map((_, i) => fmtNum(hsrc.edges[i], 3) + '–' + fmtNum(hsrc.edges[i + 1], 3));
    if (!labels) labels = hsrc.reference.map((_, i) => String(i + 1));
    return { labels: labels.map(String).map(shortLabel), reference: toShares(hsrc.reference), current: toShares(hsrc.current) };
  }
  if (Array.isArray(hsrc)) {
    // [{lo, hi, reference, current}] or [{value|category, reference, current}]
    const labels = hsrc.map((b) => (b.value ?? b.category ?? (b.lo !== undefined ? fmtNum(b.lo, 3) + '–' + fmtNum(b.hi, 3) : '?')));
    return { labels: labels.map(String), reference: toShares(hsrc.map((b) => b.reference)), current: toShares(hsrc.map((b) => b.current)) };
  }
  const cats = c.categories;
  if (Array.isArray(cats) && cats.length && typeof cats[0] === 'object') {
    return {
      labels: cats.map((x) => String(x.value ?? x.name ?? x.category)),
      reference: toShares(cats.map((x) => x.reference)),
      current: toShares(cats.map((x) => x.current)),
    };
  }
  return null;
}
