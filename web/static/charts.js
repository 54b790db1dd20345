// charts.js - thin wrappers over uPlot (embedded from the npm package at
// build time as /static/uPlot.iife.min.js; it defines window.uPlot).

import { h, fill, fmtNum } from './dom.js';

const COLORS = {
  current: '#2563eb',
  reference: '#94a3b8',
  threshold: '#dc2626',
  line: '#2563eb',
};

// Time axis ticks of whole seconds and up (a rollout of short holds spans
// a few seconds: no ".500" ticks).
const TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
  86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400];

function lib() { return window.uPlot; }

function missing(container) {
  fill(container, h('p.muted.chart-missing', 'The chart library is not built into this binary (run make deps, then rebuild).'));
}

function widthOf(container) {
  return Math.max(280, Math.floor(container.getBoundingClientRect().width || container.clientWidth || 600));
}

// A chart slot: keeps one uPlot instance in `container`, re-creates it only
// when the data changed, and follows the container's width.
export class Chart {
  constructor(container, height = 220) {
    this.container = container;
    this.height = height;
    this.plot = null;
    this.key = null;
    this.ro = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: widthOf(this.container), height: this.height });
    });
    this.ro.observe(container);
  }

  destroy() {
    this.ro.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }

  // Shows a line for each series over time. series: [{label, points:
  // [{at (RFC 3339), value}], color?}]; opts: {threshold?, yLabel?, yMin?, yMax?}.
  timeSeries(series, opts = {}) {
    const key = JSON.stringify([series, opts]);
    if (key === this.key) return;
    if (!lib()) return missing(this.container);
    const times = new Set();
    for (const s of series) for (const p of s.points) times.add(Date.parse(p.at) / 1000);
    const xs = [...times].filter((t) => Number.isFinite(t)).sort((a, b) => a - b);
    if (!xs.length) {
      this.reset();
      fill(this.container, h('p.muted.chart-empty', opts.emptyText || 'No evaluations stored in this time range yet.'));
      this.key = key;
      return;
    }
    const data = [xs];
    const uSeries = [{}];
    series.forEach((s, i) => {
      const byT = new Map(s.points.map((p) => [Date.parse(p.at) / 1000, p.value]));
      data.push(xs.map((t) => (byT.has(t) && typeof byT.get(t) === 'number' ? byT.get(t) : null)));
      uSeries.push({
        label: s.label,
        stroke: s.color || (i ? COLORS.reference : COLORS.line),
        width: 2,
        points: { show: xs.length < 60, size: 5 },
        value: (u, v) => fmtNum(v),
        spanGaps: true,
      });
    });
    if (typeof opts.threshold === 'number') {
      data.push(xs.map(() => opts.threshold));
      uSeries.push({ label: 'threshold', stroke: COLORS.threshold, width: 1, dash: [6, 4], points: { show: false }, value: (u, v) => fmtNum(v) });
    }
    const yRange = (u, min, max) => {
      let lo = opts.yMin !== undefined ? Math.min(opts.yMin, min) : min;
      let hi = opts.yMax !== undefined ? Math.max(opts.yMax, max) : max;
      if (lo === hi) { lo -= 1; hi += 1; }
      return [lo, hi];
    };
    const xRange = (u, min, max) => (min === max ? [min - 300, max + 300] : [min, max]);
    this.render(key, {
      height: this.height,
      series: uSeries,
      scales: { x: { time: true, range: xRange }, y: { range: yRange } },
      axes: [
        { stroke: '#475569', grid: { stroke: '#e2e8f0' } },
        { stroke: '#475569', grid: { stroke: '#e2e8f0' }, label: opts.yLabel, values: (u, vals) => vals.map((v) => fmtNum(v, 3)) },
      ],
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
    }, data);
  }

  // Grouped bars: labels[i] names bin i; series: [{label, values[], color}].
  bars(labels, series, opts = {}) {
    const key = JSON.stringify([labels, series, opts]);
    if (key === this.key) return;
    if (!lib()) return missing(this.container);
    if (!labels.length) {
      this.reset();
      fill(this.container, h('p.muted.chart-empty', opts.emptyText || 'Nothing to show.'));
      this.key = key;
      return;
    }
    const U = lib();
    const xs = labels.map((_, i) => i);
    const n = series.length;
    const data = [xs, ...series.map((s) => s.values.map((v) => (typeof v === 'number' ? v : null)))];
    const uSeries = [{ label: opts.xLabel || 'bin', value: (u, v) => (v === null || v === undefined ? '' : labels[v]) }];
    series.forEach((s, i) => {
      uSeries.push({
        label: s.label,
        stroke: s.color,
        fill: s.color + 'cc',
        width: 1,
        points: { show: false },
        value: (u, v) => fmtNum(v, 3),
        paths: U.paths.bars({ size: [0.8 / n, 60], align: n === 1 ? 0 : (i === 0 ? -1 : 1) }),
      });
    });
    this.render(key, {
      height: this.height,
      series: uSeries,
      scales: {
        x: { time: false, range: () => [-0.5, labels.length - 0.5] },
        y: { range: (u, min, max) => [0, Math.max(max, 1e-9) * 1.1] },
      },
      axes: [
        {
          stroke: '#475569', grid: { show: false },
          splits: () => xs,
          values: (u, vals) => vals.map((v) => (Number.isInteger(v) && labels[v] !== undefined ? labels[v] : '')),
          rotate: labels.length > 8 ? -35 : 0,
          size: labels.length > 8 ? 70 : 40,
        },
        { stroke: '#475569', grid: { stroke: '#e2e8f0' }, label: opts.yLabel, values: (u, vals) => vals.map((v) => fmtNum(v, 3)) },
      ],
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
    }, data);
  }

  // A step line over time: each value holds until the next point (what a
  // rollout's nodes were told). points: [{at (RFC 3339), value}] in time
  // order; opts: {label, unit?, yMin?, yMax?, marks?: how many points
  // from the start get a dot (the rest, e.g. "now", get none), emptyText?}.
  // New points on the same chart only replace its data, so polling does
  // not rebuild it.
  steps(points, opts = {}) {
    if (!lib()) return missing(this.container);
    const xs = points.map((p) => Date.parse(p.at) / 1000);
    const ys = points.map((p) => (typeof p.value === 'number' ? p.value : null));
    const shape = JSON.stringify(['steps', opts]);
    const dataKey = JSON.stringify([xs, ys]);
    if (!xs.length || xs.some((t) => !Number.isFinite(t))) {
      this.reset();
      fill(this.container, h('p.muted.chart-empty', opts.emptyText || 'Nothing to show yet.'));
      return;
    }
    if (this.plot && this.key === shape) {
      if (this.dataKey !== dataKey) this.plot.setData([xs, ys]);
      this.dataKey = dataKey;
      return;
    }
    const U = lib();
    const unit = opts.unit ? ' ' + opts.unit : '';
    const marks = opts.marks === undefined ? Infinity : opts.marks;
    const xRange = (u, min, max) => {
      const pad = max > min ? (max - min) * 0.04 : 30;
      return [min - pad, max + pad];
    };
    const yRange = (u, min, max) => [
      opts.yMin !== undefined ? Math.min(opts.yMin, min) : min,
      opts.yMax !== undefined ? Math.max(opts.yMax, max) : max,
    ];
    this.render(shape, {
      height: this.height,
      series: [{}, {
        label: opts.label || 'value',
        stroke: COLORS.line,
        fill: COLORS.line + '1f',
        width: 2,
        paths: U.paths.stepped({ align: 1 }),
        points: {
          show: true, size: 7,
          filter: (u) => [...Array(Math.min(marks, u.data[0].length)).keys()],
        },
        value: (u, v) => (v === null || v === undefined ? '—' : fmtNum(v) + unit),
      }],
      scales: { x: { time: true, range: xRange }, y: { range: yRange } },
      axes: [
        { stroke: '#475569', grid: { stroke: '#e2e8f0' }, incrs: TIME_INCRS },
        { stroke: '#475569', grid: { stroke: '#e2e8f0' }, label: opts.yLabel, values: (u, vals) => vals.map((v) => fmtNum(v, 3) + unit) },
      ],
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
    }, [xs, ys]);
    this.dataKey = dataKey;
  }

  // Forgets the chart (the caller is about to show something else here).
  reset() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
    this.key = null;
  }

  render(key, options, data) {
    this.reset();
    this.container.replaceChildren();
    options.width = widthOf(this.container);
    this.plot = new (lib())(options, data, this.container);
    this.key = key;
  }
}
