// page_alerts.js - #/alerts: alerts by state with ack and silence, active
// silences, the rules and their evaluation, and the webhook deliveries with
// their attempts (dead ones can be retried).

import { h, fill, badge, stateKind, timeEl, fmtNum, fmtTime, empty, table } from './dom.js';
import { api, path, can } from './api.js';
import { card, dialog, toast } from './ui.js';

const STATES = ['firing', 'pending', 'resolved'];
const DURATIONS = [['3600', '1 hour'], ['14400', '4 hours'], ['86400', '24 hours'], ['604800', '7 days']];

export function mount(root, params, ctx) {
  let tab = 'firing';
  let delState = '';
  const tabs = h('div.tabs', { role: 'tablist' });
  const { table: atable, body: abody } = table(['State', 'Rule', 'Model', 'Condition', 'Value', 'Since', 'Acknowledged', ''], 'alerts-table');
  atable.id = 'alerts-table';
  const { table: stable, body: sbody } = table(['Matchers', 'State', 'Ends', 'Comment', 'Created by', ''], 'silences-table');
  stable.id = 'silences-table';
  const { table: rtable, body: rbody } = table(['Rule', 'Model', 'Condition', 'Timing', 'Severity', 'State', 'Last value', 'Last evaluated', 'Channels'], 'rules-table');
  rtable.id = 'rules-table';
  const { table: dtable, body: dbody } = table(['#', 'Kind', 'Target', 'State', 'Attempts', 'Last result', 'Created', 'Next / done', ''], 'deliveries-table');
  dtable.id = 'deliveries-table';
  const delFilter = h('select', { id: 'deliveries-state', 'aria-label': 'delivery state' },
    [['', 'all'], ['pending', 'pending'], ['failed', 'failed'], ['dead', 'dead'], ['delivered', 'delivered']].map(([v, l]) => h('option', { value: v }, l)));
  delFilter.addEventListener('change', () => { delState = delFilter.value; ctx.refresh(); });
  const silencedCount = h('span.muted.small');

  fill(root,
    h('div.page-head', h('div', h('h1', 'Alerts'), h('p.muted', 'Rules evaluate drift, performance and volume; firing alerts notify channels and may roll back.'))),
    card('Alerts', tabs, h('div.table-wrap', atable)),
    card('Silences', silencedCount, h('div.table-wrap', stable)),
    card('Rules', null, h('div.table-wrap', rtable)),
    card('Deliveries', h('label.inline', 'state ', delFilter), h('div.table-wrap', dtable),
      h('p.muted.small', 'Every webhook that leaves modelwatch: alert notifications and alias.moved commands to serving nodes. Dead deliveries exhausted their attempts and can be queued again.')));

  function renderTabs(byState) {
    fill(tabs, STATES.map((s) => h('button.tab', {
      type: 'button', role: 'tab', class: s === tab ? 'active' : null, dataset: { state: s }, 'aria-selected': s === tab ? 'true' : 'false',
      onclick: () => { tab = s; renderTabs(byState); renderAlerts(byState); },
    }, s, h('span.tab-count', { class: s === 'firing' && byState.firing.length ? 'hot' : null }, String(byState[s].length)))));
  }

  function renderAlerts(byState) {
    const list = byState[tab];
    if (!list.length) {
      fill(abody, empty(tab === 'firing' ? 'Nothing is firing.' : 'No ' + tab + ' alerts.', 8));
      return;
    }
    fill(abody, list.map((a) => h('tr', { dataset: { alertId: a.id, rule: a.rule, state: a.state }, class: a.silenced ? 'silenced' : null },
      h('td', badge(a.state, stateKind(a.state)), a.silenced ? badge('silenced', 'neutral') : null, a.labels && a.labels.severity ? h('div.muted.small', a.labels.severity) : null),
      h('td', h('strong', a.rule), a.annotations && a.annotations.summary ? h('div.muted.small', a.annotations.summary) : null),
      h('td', h('a', { href: '#/models/' + encodeURIComponent(a.model) }, a.model), ' ', h('span.vchip', 'v' + a.version)),
      h('td', h('code', a.metric + ' ' + a.op + ' ' + fmtNum(a.threshold))),
      h('td.num', fmtNum(a.value)),
      h('td', a.state === 'resolved' ? timeEl(a.resolved_at) : timeEl(a.fired_at || a.started_at),
        h('div.muted.small', a.state === 'resolved' ? 'resolved' : a.fired_at ? 'firing since' : 'pending since')),
      h('td', a.acked_by ? h('span', badge('acked', 'ok'), h('div.muted.small', a.acked_by)) : h('span.muted', '—')),
      h('td.actions',
        can('promote') && a.state !== 'resolved' && !a.acked_by
          ? h('button.btn.btn-small', { type: 'button', dataset: { action: 'ack' }, onclick: () => ack(a) }, 'Ack') : null,
        can('promote') && a.state !== 'resolved' && !a.silenced
          ? h('button.btn.btn-small', { type: 'button', dataset: { action: 'silence' }, onclick: () => silence(a) }, 'Silence…') : null,
        a.action ? h('div.muted.small', 'action: ' + actionText(a.action)) : null))));
  }

  async function ack(a) {
    try {
      await api.post(path(['alerts', a.id, 'ack']));
      toast('Alert ' + a.rule + ' acknowledged');
      await ctx.refresh();
    } catch (e) {
      toast('Ack failed: ' + e.message, 'error');
    }
  }

  async function silence(a) {
    const matchers = [{ name: 'alertname', value: a.rule, is_regex: false }, { name: 'model', value: a.model, is_regex: false }];
    const r = await dialog({
      id: 'silence-dialog',
      title: 'Silence ' + a.rule,
      intro: [h('p', 'Mutes notifications of every alert whose labels match:'),
        h('div.chips', matchers.map((m) => h('code.matcher', m.name + '="' + m.value + '"')))],
      fields: [
        { name: 'duration', label: 'For', type: 'select', options: DURATIONS, value: '14400' },
        { name: 'comment', label: 'Comment', type: 'textarea', required: true, placeholder: 'who is on it and why' },
      ],
      confirm: 'Silence',
      submit: (v) => api.post('/api/v1/silences', {
        matchers,
        ends_at: new Date(Date.now() + Number(v.duration) * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
        comment: v.comment,
      }),
    });
    if (r) {
      toast('Silenced ' + a.rule);
      await ctx.refresh();
    }
  }

  async function expire(s) {
    try {
      await api.del(path(['silences', s.id]));
      toast('Silence ' + s.id + ' expired');
      await ctx.refresh();
    } catch (e) {
      toast('Could not expire: ' + e.message, 'error');
    }
  }

  async function retry(d) {
    try {
      await api.post(path(['deliveries', d.id, 'retry']));
      toast('Delivery ' + d.id + ' queued again');
      await ctx.refresh();
    } catch (e) {
      toast('Retry failed: ' + e.message, 'error');
    }
  }

  function renderSilences(silences) {
    const live = silences.filter((s) => s.state !== 'expired');
    silencedCount.textContent = live.length + ' active' + (silences.length > live.length ? ', ' + (silences.length - live.length) + ' expired' : '');
    fill(sbody, live.length ? live.map((s) => h('tr', { dataset: { silenceId: s.id } },
      h('td', h('div.chips', (s.matchers || []).map((m) => h('code.matcher', m.name + (m.is_regex ? '=~' : '=') + '"' + m.value + '"')))),
      h('td', badge(s.state, s.state === 'active' ? 'ok' : 'neutral')),
      h('td', h('span', { title: fmtTime(s.ends_at) }, timeEl(s.ends_at))),
      h('td', s.comment || h('span.muted', '—')),
      h('td', s.created_by),
      h('td.actions', can('promote') ? h('button.btn.btn-small.btn-ghost', { type: 'button', dataset: { action: 'expire' }, onclick: () => expire(s) }, 'Expire') : null)))
      : empty('No active silences.', 6));
  }

  function renderRules(rules) {
    fill(rbody, rules.length ? rules.map((r) => {
      const ev = r.evaluation || {};
      return h('tr', { dataset: { rule: r.name } },
        h('td', h('strong', r.name), r.action ? h('div', badge('action: ' + r.action, 'warn')) : null),
        h('td', h('a', { href: '#/models/' + encodeURIComponent(r.model) }, r.model), ' ',
          r.alias ? h('span.alias-chip', h('span.alias-name', r.alias)) : h('span.vchip', 'v' + r.version)),
        h('td', h('code', r.metric + ' ' + r.op + ' ' + fmtNum(r.threshold))),
        h('td.small.nowrap', h('div', 'for ' + dur(r.for_seconds)), h('div.muted', 'every ' + dur(r.interval_seconds) + ' over ' + dur(r.window_seconds))),
        h('td', badge(r.severity, r.severity === 'critical' ? 'bad' : r.severity === 'warning' ? 'warn' : 'neutral')),
        h('td', badge(ev.state || '—', stateKind(ev.state)), ev.last_error ? h('div.error-text.small', { title: ev.last_error }, ev.last_error) : null),
        h('td.num', fmtNum(ev.last_value)),
        h('td', timeEl(ev.last_eval_at)),
        h('td', (r.channels || []).length ? r.channels.join(', ') : h('span.muted', 'none')));
    }) : empty('No alert rules. An admin creates them with POST /api/v1/alert-rules.', 9));
  }

  function renderDeliveries(deliveries) {
    fill(dbody, deliveries.length ? deliveries.map((d) => h('tr', { dataset: { deliveryId: d.id, state: d.state } },
      h('td', String(d.id)),
      h('td', d.kind, h('div.muted.small', deliveryWhat(d))),
      h('td', h('div', d.target_type + ': ', h('strong', d.target)), h('div.muted.small.url', d.url)),
      h('td', badge(d.state, stateKind(d.state))),
      h('td', attemptsCell(d)),
      h('td', d.last_status ? h('code', String(d.last_status)) : null, d.last_error ? h('div.error-text.small', d.last_error) : (d.last_status ? null : h('span.muted', '—'))),
      h('td', timeEl(d.created_at)),
      h('td', d.state === 'delivered' ? timeEl(d.delivered_at) : d.state === 'dead' ? h('span.muted', 'no more attempts') : timeEl(d.next_attempt_at)),
      h('td.actions', can('promote') && d.state === 'dead'
        ? h('button.btn.btn-small', { type: 'button', dataset: { action: 'retry' }, onclick: () => retry(d) }, 'Retry') : null)))
      : empty('No deliveries' + (delState ? ' in state ' + delState : '') + '.', 9));
  }

  async function refresh() {
    const [alerts, silences, rules, deliveries] = await Promise.all([
      api.get('/api/v1/alerts?limit=500'),
      api.get('/api/v1/silences').catch(() => ({ silences: [] })),
      api.get('/api/v1/alert-rules').catch(() => ({ rules: [] })),
      api.get(path(['deliveries'], { state: delState, limit: 100 })).catch(() => ({ deliveries: [] })),
    ]);
    const byState = { firing: [], pending: [], resolved: [] };
    for (const a of alerts.alerts || []) if (byState[a.state]) byState[a.state].push(a);
    renderTabs(byState);
    renderAlerts(byState);
    renderSilences(silences.silences || []);
    renderRules(rules.rules || []);
    renderDeliveries(deliveries.deliveries || []);
  }

  return { refresh };
}

function attemptsCell(d) {
  const log = d.attempt_log || [];
  if (!log.length) return h('span', String(d.attempts));
  return h('details.attempts',
    h('summary', String(d.attempts) + (d.attempts === 1 ? ' attempt' : ' attempts')),
    h('ol.attempt-log', log.map((a) => h('li',
      h('span.muted', fmtTime(a.at)), ' ',
      a.status ? h('code', String(a.status)) : h('code', 'no response'), ' ',
      h('span.muted', a.latency_ms + ' ms'),
      a.error ? h('div.error-text.small', a.error) : null))));
}

// One line on what a delivery carries, from its payload.
function deliveryWhat(d) {
  const p = d.payload || {};
  if (p.type === 'alias.moved')
    return p.model + ' ' + p.alias + ': ' + (p.from_version ? 'v' + p.from_version : '—') + ' → v' + p.to_version;
  if (Array.isArray(p.alerts)) return (p.status || '') + ' · ' + p.alerts.length + (p.alerts.length === 1 ? ' alert' : ' alerts');
  if (p.text) return String(p.text).slice(0, 80);
  if (p.content) return String(p.content).slice(0, 80);
  return '';
}

function actionText(a) {
  if (typeof a === 'string') return a;
  if (a && typeof a === 'object') return [a.type || a.action, a.status, a.message].filter(Boolean).join(' ') || JSON.stringify(a);
  return String(a);
}

function dur(s) {
  const nb = '\u00a0';
  if (s === null || s === undefined) return '—';
  if (s === 0) return '0' + nb + 's';
  if (s % 86400 === 0) return s / 86400 + nb + 'd';
  if (s % 3600 === 0) return s / 3600 + nb + 'h';
  if (s % 60 === 0) return s / 60 + nb + 'min';
  return s + nb + 's';
}
