// dom.js - building the page without innerHTML: every value that comes from
// data reaches the document as a text node or an attribute, never as markup.

// h('tr.row', {onclick: f, title: 'x'}, child, 'text', [more]) -> Element.
// The tag may carry classes after dots. Children that are strings or numbers
// become text nodes; null, undefined and false are skipped; arrays are spread.
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = [el.className, v].filter(Boolean).join(' ');
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'required') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// Replaces the children of el with the given ones.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Escapes text for the rare place that needs markup as a string (none in
// this dashboard today; kept for anyone adding one).
export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

// ---- formatting ----

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

// "08:24 → 09:24 UTC" (dates added when the two differ from today).
export function fmtRange(fromIso, toIso) {
  const f = new Date(fromIso);
  const t = new Date(toIso);
  if (Number.isNaN(f.getTime()) || Number.isNaN(t.getTime())) return '';
  const day = (d) => d.toISOString().slice(0, 10);
  const clock = (d) => d.toISOString().slice(11, 16);
  const today = day(new Date());
  const part = (d) => (day(d) === today ? clock(d) : day(d) + ' ' + clock(d));
  return part(f) + ' → ' + part(t) + ' UTC';
}

export function fmtAgo(iso) {
  if (!iso) return '—';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return String(iso);
  let s = Math.round((Date.now() - t) / 1000);
  const future = s < 0;
  s = Math.abs(s);
  let out;
  if (s < 5) return future ? 'in a moment' : 'just now';
  if (s < 60) out = s + ' s';
  else if (s < 3600) out = Math.round(s / 60) + ' min';
  else if (s < 86400) out = Math.round(s / 3600) + ' h';
  else out = Math.round(s / 86400) + ' d';
  return future ? 'in ' + out : out + ' ago';
}

// A <time> element showing "3 min ago" with the exact time as its title.
export function timeEl(iso) {
  if (!iso) return h('span.muted', '—');
  return h('time', { datetime: iso, title: fmtTime(iso) }, fmtAgo(iso));
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(v < 10 ? 2 : 1) : String(v)) + ' ' + units[i];
}

export function fmtNum(v, digits = 4) {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return String(Number(v.toPrecision(digits)));
}

export function badge(text, kind) {
  return h('span.badge', { class: 'badge-' + (kind || 'neutral') }, text);
}

// The badge colour for a state name used by versions, alerts, deliveries.
export function stateKind(state) {
  switch (state) {
    case 'ready': case 'delivered': case 'resolved': case 'ok': case 'active': case 'inactive':
      return 'ok';
    case 'pending': case 'failed': case 'nodata':
      return 'warn';
    case 'firing': case 'dead': case 'drifting': case 'error':
      return 'bad';
    default:
      return 'neutral';
  }
}

export function versionChip(v) {
  return v === null || v === undefined ? h('span.muted', '—') : h('span.vchip', 'v' + v);
}

export function empty(text, cols) {
  return h('tr.empty', h('td', { colspan: cols }, text));
}

// A table with a header row; returns {table, body}.
export function table(headers, cls) {
  const body = h('tbody');
  const t = h('table.data', { class: cls },
    h('thead', h('tr', headers.map((x) => h('th', x)))), body);
  return { table: t, body };
}
