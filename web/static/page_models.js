// page_models.js - #/models: every model with its aliases, latest version,
// drift status and firing alerts; search by name.

import { h, fill, badge, timeEl, fmtNum, empty, table } from './dom.js';
import { api, path } from './api.js';
import { card } from './ui.js';
import { driftStatus } from './drift_status.js';

export function mount(root, params, ctx) {
  let q = '';
  let timer = null;
  const search = h('input.search', {
    id: 'model-search', type: 'search', placeholder: 'Search models by name…', 'aria-label': 'Search models',
    oninput: () => {
      clearTimeout(timer);
      timer = setTimeout(() => { q = search.value.trim(); ctx.refresh(); }, 250);
    },
  });
  const count = h('span.muted');
  const { table: tbl, body } = table(['Model', 'Aliases', 'Latest', 'Drift', 'Firing alerts', 'Updated'], 'models-table');
  tbl.id = 'models-table';
  fill(root,
    h('div.page-head', h('div', h('h1', 'Models'), count), search),
    card('Registered models', null, h('div.table-wrap', tbl)));

  async function refresh() {
    const [list, firing] = await Promise.all([
      api.get(path(['models'], { q, limit: 200 })),
      api.get('/api/v1/alerts?state=firing').catch(() => ({ alerts: [] })),
    ]);
    const models = list.models || [];
    const byModel = new Map();
    for (const a of firing.alerts || []) {
      if (!byModel.has(a.model)) byModel.set(a.model, []);
      byModel.get(a.model).push(a);
    }
    const drift = await Promise.all(models.map((m) => driftStatus(m)));
    count.textContent = models.length + (models.length === 1 ? ' model' : ' models') +
      (list.next_page_token ? ' (more not shown; refine the search)' : '');
    if (!models.length) {
      fill(body, empty(q ? 'No model matches "' + q + '".' : 'No models registered yet. CI registers them with POST /api/v1/models.', 6));
      return;
    }
    fill(body, models.map((m, i) => {
      const alerts = byModel.get(m.name) || [];
      const loud = alerts.filter((a) => !a.silenced);
      const aliases = Object.entries(m.aliases || {});
      return h('tr', { dataset: { model: m.name } },
        h('td', h('a.model-link', { href: '#/models/' + encodeURIComponent(m.name) }, m.name),
          m.description ? h('div.muted.small', m.description) : null),
        h('td', aliases.length
          ? h('div.chips', aliases.map(([a, v]) => h('span.alias-chip', h('span.alias-name', a), h('span.alias-ver', 'v' + v))))
          : h('span.muted', 'none')),
        h('td', m.latest_version ? 'v' + m.latest_version : h('span.muted', '—'),
          h('div.muted.small', m.version_count + (m.version_count === 1 ? ' version' : ' versions'))),
        h('td', driftCell(m, drift[i])),
        h('td', alerts.length
          ? h('a', { href: '#/alerts' }, badge(loud.length + ' firing', loud.length ? 'bad' : 'neutral'),
            alerts.length > loud.length ? h('span.muted.small', ' ' + (alerts.length - loud.length) + ' silenced') : null)
          : h('span.muted', 'none')),
        h('td', timeEl(m.updated_at)));
    }));
  }

  return { refresh, destroy() { clearTimeout(timer); } };
}

function driftCell(m, d) {
  if (!d) return h('span.muted', '—');
  const link = (child) => h('a', { href: '#/models/' + encodeURIComponent(m.name) + '/versions/' + d.version + '/drift', title: d.title }, child);
  if (d.state === 'none') return link(h('span.muted', 'no data (v' + d.version + ')'));
  return link(h('span', badge(d.state === 'drifting' ? 'drifting' : 'ok', d.state === 'drifting' ? 'bad' : 'ok'),
    h('span.muted.small', ' v' + d.version + ' · share ' + fmtNum(d.share, 2))));
}
