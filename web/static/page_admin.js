// page_admin.js - #/admin (admin tokens only): event subscriptions (the
// URLs that receive registry and alert events: subscribe, see, delete) and
// the latest entries of the audit log.

import { h, fill, timeEl, empty, table } from './dom.js';
import { api, path } from './api.js';
import { card, dialog, toast } from './ui.js';

const EVENTS = ['*', 'model.created', 'version.*', 'version.approved', 'version.rejected',
  'alias.moved', 'rollout.*', 'alert.*'];

export function mount(root, params, ctx) {
  const { table: stable, body: sbody } = table(['Name', 'URL', 'Events', 'Models', 'Created', ''], 'subscriptions-table');
  stable.id = 'subscriptions-table';
  const { table: atable, body: abody } = table(['When', 'Who', 'What', 'Target', 'Details'], 'audit-table');
  atable.id = 'audit-table';
  const add = h('button.btn.btn-small.btn-primary', { type: 'button', id: 'subscribe', onclick: () => subscribe() }, 'Subscribe…');
  fill(root,
    h('div.page-head', h('div', h('h1', 'Administration'),
      h('p.muted', 'Services that hear what happens to models, and who did what.'))),
    card('Event subscriptions', add, h('div.table-wrap', stable),
      h('p.muted.small', 'Each event is sent, signed per Standard Webhooks with the subscription\'s own secret, in the transaction that causes it; deliveries are on the Alerts page.')),
    card('Audit log', null, h('div.table-wrap', atable)));

  async function subscribe() {
    let created = null;
    const r = await dialog({
      id: 'subscribe-dialog',
      title: 'Subscribe a URL to events',
      intro: [h('p', 'Events: ', EVENTS.map((e) => [h('code', e), ' ']), '(comma-separated). Models: names or prefixes ending in *, empty for every model.')],
      fields: [
        { name: 'name', label: 'Name', required: true, placeholder: 'release-notes' },
        { name: 'url', label: 'URL', required: true, placeholder: 'https://ci.example.com/hooks/modelwatch' },
        { name: 'events', label: 'Events', required: true, value: 'version.approved, alias.moved' },
        { name: 'models', label: 'Models (optional)', placeholder: 'fraud, churn-*' },
      ],
      confirm: 'Subscribe',
      submit: async (v) => {
        const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
        const body = { name: v.name, url: v.url, events: list(v.events) };
        if (list(v.models).length) body.models = list(v.models);
        created = await api.post('/api/v1/subscriptions', body);
      },
    });
    if (!r || !created) return;
    await dialog({
      id: 'secret-dialog',
      title: 'Subscription ' + created.name + ' created',
      intro: [h('p', 'Its signing secret, shown only now: give it to the receiving service so that it can verify each webhook.'),
        h('code.secret', { id: 'subscription-secret' }, created.secret)],
      confirm: 'Done',
    });
    await ctx.refresh();
  }

  async function remove(name) {
    const r = await dialog({
      id: 'unsubscribe-dialog',
      title: 'Delete subscription ' + name,
      intro: [h('p', 'Events stop going to it; deliveries still queued for it die unsent.')],
      confirm: 'Delete',
      danger: true,
      submit: () => api.del(path(['subscriptions', name])),
    });
    if (r) {
      toast('subscription ' + name + ' deleted');
      await ctx.refresh();
    }
  }

  async function refresh() {
    const [subs, audit] = await Promise.all([
      api.get('/api/v1/subscriptions'),
      api.get('/api/v1/audit?limit=50'),
    ]);
    const list = subs.subscriptions || [];
    fill(sbody, list.length ? list.map((s) => h('tr', { dataset: { subscription: s.name } },
      h('td', h('strong', s.name)),
      h('td', h('code', s.url)),
      h('td', s.events.join(', ')),
      h('td', s.models ? s.models.join(', ') : h('span.muted', 'all')),
      h('td', timeEl(s.created_at), h('div.muted.small', s.created_by)),
      h('td.actions', h('button.btn.btn-small.btn-danger-ghost', {
        type: 'button', dataset: { action: 'unsubscribe', name: s.name }, onclick: () => remove(s.name),
      }, 'Delete…')))) : empty('No subscriptions.', 6));
    const entries = audit.entries || [];
    fill(abody, entries.length ? entries.map((e) => h('tr', { dataset: { action: e.action } },
      h('td', timeEl(e.at)),
      h('td', e.actor),
      h('td', h('code', e.action)),
      h('td', e.target || h('span.muted', '—')),
      h('td.small', e.details ? JSON.stringify(e.details) : h('span.muted', '—')))) : empty('Nothing yet.', 5));
  }

  return { refresh };
}
