// page_rollout.js - #/models/<name>/rollouts/<id>: one canary or shadow
// rollout of a candidate version onto an alias. Its state, alias and
// versions; the weight the nodes were told over time (a step chart, up to
// now while it runs); each step with its checks, value against threshold;
// the timeline of its events; and, for a token with scope promote, pause,
// resume, abort and promote where the state allows them (the server
// answers 409 otherwise). Polled every 2 s while it runs.

import { h, fill, badge, timeEl, fmtTime, fmtNum, versionChip, table } from './dom.js';
import { api, path, can } from './api.js';
import { card, dialog, toast } from './ui.js';
import { Chart } from './charts.js';

const RUNNING_POLL_MS = 2000;

// What a person may do to a rollout in each state (rollouts/rollouts.h).
const ACTIONS = [
  {
    action: 'pause', label: 'Pause', done: 'paused', states: ['running'],
    intro: (r) => 'The rollout stops being judged; the nodes keep sending ' + r.weight_percent + ' % to v' + r.candidate_version + ' until it is resumed or ended.',
  },
  {
    action: 'resume', label: 'Resume', done: 'resumed', states: ['paused'],
    intro: (r) => 'Step ' + (r.step + 1) + ' starts over: a fresh hold and window, and the nodes are told again.',
  },
  {
    action: 'promote', label: 'Promote now', done: 'promoted', states: ['running', 'paused'],
    intro: (r) => 'Moves ' + r.alias + ' from v' + r.baseline_version + ' to v' + r.candidate_version + ' now, whatever the checks say. Refused if someone moved ' + r.alias + ' meanwhile.',
  },
  {
    action: 'abort', label: 'Abort', done: 'aborted', states: ['running', 'paused'], danger: true,
    intro: (r) => 'Ends the rollout: the nodes send nothing more to v' + r.candidate_version + ', ' + r.alias + ' stays on v' + r.baseline_version + ', and the model\'s chat channels are told.',
  },
];

export function mount(root, { model, id }, ctx) {
  let last = null;

  const title = h('h1', 'Rollout #' + id);
  const subtitle = h('p.muted', { id: 'rollout-subtitle' });
  const controls = h('div.controls', { id: 'rollout-controls' });
  const reasonBox = h('div.notice', { id: 'rollout-reason', hidden: true });
  const tiles = h('div.tiles', { id: 'rollout-summary' });
  const chartBox = h('div.chart', { id: 'weight-chart', role: 'img', 'aria-label': 'candidate weight over time' });
  const chartNote = h('p.muted.small');
  const stepsBox = h('div.steps', { id: 'rollout-steps' });
  const events = h('ol.timeline', { id: 'rollout-events' });
  const analysisBox = h('div', { id: 'rollout-analysis' });

  fill(root,
    h('nav.crumbs', h('a', { href: '#/models' }, 'Models'), h('span', '/'),
      h('a', { href: '#/models/' + encodeURIComponent(model) }, model), h('span', '/'), h('span', 'Rollout #' + id)),
    h('div.page-head', h('div', title, subtitle), controls),
    reasonBox,
    tiles,
    card('Candidate weight over time', null, chartBox, chartNote),
    card('Steps', null, stepsBox),
    h('div.grid-2',
      card('Timeline', null, events),
      card('Analysis', null, analysisBox)));

  const chart = new Chart(chartBox, 220);

  async function act(a) {
    const r = last;
    const res = await dialog({
      id: 'rollout-dialog',
      title: a.label + ' rollout #' + r.id,
      intro: [h('p', a.intro(r))],
      fields: [{ name: 'reason', label: 'Reason (optional)', type: 'textarea', placeholder: 'why' }],
      confirm: a.label,
      danger: !!a.danger,
      submit: async (v) => {
        try {
          const now = await api.post(path(['models', model, 'rollouts', id, a.action]), { reason: v.reason || undefined });
          last = now;
          render();
        } catch (e) {
          if (e.status === 409) {
            ctx.refresh();
            throw new Error('Refused: ' + e.message + '. The page now shows the rollout as it is.');
          }
          throw e;
        }
      },
    });
    if (res) {
      toast('Rollout #' + r.id + ' ' + a.done);
      await ctx.refresh();
    }
  }

  function renderControls(r) {
    if (!can('promote')) {
      fill(controls, active(r) ? h('span.muted.small', 'Your token has no promote scope: this rollout is read-only here.') : null);
      return;
    }
    fill(controls, ACTIONS.filter((a) => a.states.includes(r.state)).map((a) => h('button.btn', {
      type: 'button', id: 'rollout-' + a.action, dataset: { action: a.action },
      class: a.danger ? 'btn-danger-ghost' : a.action === 'promote' ? 'btn-primary' : null,
      onclick: () => act(a),
    }, a.label + '…')));
  }

  function renderHead(r) {
    fill(title, 'Rollout #' + r.id + ' ', badge(r.state, rolloutStateKind(r.state)));
    title.dataset.state = r.state;
    fill(subtitle, r.mode, ' of ', versionChip(r.candidate_version), ' onto ', h('strong', r.alias),
      ', replacing ', versionChip(r.baseline_version), ' · started by ', r.created_by, ' ', timeEl(r.created_at));
    reasonBox.hidden = !r.reason;
    reasonBox.className = 'notice notice-' + (r.state === 'promoted' ? 'ok' : r.state === 'aborted' ? 'bad' : r.state === 'paused' ? 'warn' : 'info');
    fill(reasonBox, r.reason ? [h('strong', r.state === 'running' ? 'Note: ' : capital(r.state) + ': '), r.reason] : null);
    const steps = r.steps || [];
    const cur = steps[r.step];
    fill(tiles,
      tile('State', badge(r.state, rolloutStateKind(r.state)), r.ended_at ? h('span.muted', 'ended ', timeEl(r.ended_at)) : h('span.muted', 'updated ', timeEl(r.updated_at)), 'tile-state'),
      tile('Alias', h('span', r.alias), h('span', versionChip(r.baseline_version), h('span.arrow', ' → '), versionChip(r.candidate_version)), 'tile-alias'),
      tile('Step', (r.step + 1) + ' of ' + steps.length, cur && active(r) ? stepWait(r, cur) : null, 'tile-step'),
      tile('Weight', r.weight_percent + ' %', h('span.muted', r.mode === 'shadow' ? 'of requests copied to the candidate' : 'of requests served by the candidate'), 'tile-weight'),
      tile('Mode', r.mode, h('span.muted', r.mode === 'shadow' ? 'the candidate\'s answers are compared, not served' : 'the candidate serves a share of requests'), 'tile-mode'));
  }

  function renderChart(r) {
    const pts = (r.events || []).slice()
      .sort((a, b) => Date.parse(a.at) - Date.parse(b.at))
      .map((e) => ({ at: e.at, value: e.weight_percent }));
    const live = active(r);
    if (live) pts.push({ at: new Date().toISOString(), value: r.weight_percent });
    chart.steps(pts, { label: 'weight', unit: '%', yMin: 0, yMax: 100, marks: live ? pts.length - 1 : pts.length });
    chartBox.setAttribute('aria-label', 'candidate weight over time: ' +
      pts.slice(0, live ? -1 : undefined).map((p) => p.value + ' % from ' + fmtTime(p.at)).join(', ') + (live ? ', until now' : ''));
    chartNote.textContent = live
      ? 'Each dot is an event of the timeline; the line runs to now at the weight the nodes were last told.'
      : 'Each dot is an event of the timeline: the weight the nodes were told from then on.';
  }

  function renderSteps(r) {
    const steps = r.steps || [];
    if (!steps.length) {
      fill(stepsBox, h('p.muted', 'This rollout has no steps.'));
      return;
    }
    fill(stepsBox, steps.map((s) => {
      const cur = s.index === r.step && active(r);
      return h('section.step-block', { class: cur ? 'step-current' : null, dataset: { step: s.index, state: s.state }, 'aria-label': 'step ' + (s.index + 1) },
        h('div.step-head',
          h('h3.step-title', 'Step ' + (s.index + 1)),
          badge(s.state, rolloutStateKind(s.state)),
          h('span.step-weight', s.weight_percent + ' %'),
          h('span.muted.small', 'hold ' + fmtDuration(s.hold_seconds)),
          h('span.spacer'),
          s.started_at ? h('span.muted.small.step-times', fmtTime(s.started_at), s.ended_at ? ' → ' + fmtTime(s.ended_at).slice(11) : ' → now') : null),
        (s.checks || []).length ? checksTable(s.checks) : h('p.muted.small.step-note', stepNote(r, s)));
    }));
  }

  function renderEvents(r) {
    const evs = (r.events || []).slice().sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    if (!evs.length) {
      fill(events, h('li.muted', 'No events.'));
      return;
    }
    fill(events, evs.map((e) => h('li', { class: 'tl-' + e.kind, dataset: { kind: e.kind } },
      h('div.tl-line',
        h('span.tl-kind', e.kind),
        h('span', 'step ' + (e.step + 1)),
        h('span.arrow', '→'),
        h('strong', e.weight_percent + ' %'),
        h('span.spacer'),
        timeEl(e.at)),
      h('div.tl-meta', h('span.actor', e.actor), e.detail !== undefined && e.detail !== null ? [h('span.sep', '·'), detailText(e.detail)] : null))));
  }

  function renderAnalysis(r) {
    const a = r.analysis || {};
    const rows = [];
    const add = (label, v) => rows.push(h('div.kv', h('dt', label), h('dd', v)));
    if (num(a.max_drift_share)) add('Candidate drift share', '≤ ' + fmtNum(a.max_drift_share));
    if (num(a.max_candidate_vs_baseline_drift_share)) add('Candidate vs baseline drift share', '≤ ' + fmtNum(a.max_candidate_vs_baseline_drift_share));
    if (a.metric && a.metric.name) add(a.metric.name + ' drop', '≤ ' + fmtNum(a.metric.max_drop));
    if (num(a.min_agreement)) add('Agreement', '≥ ' + fmtNum(a.min_agreement));
    if (num(a.max_mean_abs_diff)) add('Mean absolute difference', '≤ ' + fmtNum(a.max_mean_abs_diff));
    if (num(a.min_rank_correlation)) add('Rank correlation', '≥ ' + fmtNum(a.min_rank_correlation));
    const checks = rows.length;
    add('Predictions per step', a.min_predictions ? 'at least ' + fmtNum(a.min_predictions) : 'none required');
    if (a.metric && a.label_delay_seconds) add('Label delay', fmtDuration(a.label_delay_seconds));
    add('Longest wait past a hold', fmtDuration(a.max_wait_seconds ?? 3600));
    fill(analysisBox,
      checks ? null : h('p.muted.small', 'No thresholds: every step passes once it held and saw its predictions.'),
      h('dl.kvs', rows),
      h('p.muted.small', 'Checked at the end of every step over the step\'s window, the same time range for both versions. A failed check aborts; a step that waits too long pauses the rollout as inconclusive.'));
  }

  function render() {
    const r = last;
    renderHead(r);
    renderControls(r);
    renderChart(r);
    renderSteps(r);
    renderEvents(r);
    renderAnalysis(r);
  }

  async function refresh() {
    try {
      last = await api.get(path(['models', model, 'rollouts', id]));
    } catch (e) {
      if (e.status !== 404) throw e;
      last = null;
      chart.destroy();
      fill(root,
        h('nav.crumbs', h('a', { href: '#/models' }, 'Models'), h('span', '/'),
          h('a', { href: '#/models/' + encodeURIComponent(model) }, model), h('span', '/'), h('span', 'Rollout #' + id)),
        card('No such rollout', null, h('p', e.message + '. ', h('a', { href: '#/models/' + encodeURIComponent(model) }, 'Back to ' + model + '.'))));
      return;
    }
    render();
  }

  return {
    refresh,
    // The shell asks after every refresh: a running rollout changes by itself.
    pollMs: () => (last && last.state === 'running' ? RUNNING_POLL_MS : null),
    destroy() { chart.destroy(); },
  };
}

// Badge colour of a rollout's or a step's state.
export function rolloutStateKind(state) {
  switch (state) {
    case 'running': return 'info';
    case 'paused': return 'warn';
    case 'promoted': case 'passed': return 'ok';
    case 'aborted': case 'failed': return 'bad';
    default: return 'neutral'; // pending, skipped
  }
}

// "step 2/3 · 50 %" for lists.
export function rolloutProgress(r) {
  return 'step ' + (r.step + 1) + '/' + (r.steps || []).length + ' · ' + r.weight_percent + ' %';
}

function active(r) { return r.state === 'running' || r.state === 'paused'; }

function num(v) { return typeof v === 'number' && Number.isFinite(v); }

function capital(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

function tile(label, value, extra, cls) {
  return h('div.tile', { class: cls }, h('div.tile-label', label), h('div.tile-value', value), extra ? h('div.tile-extra', extra) : null);
}

// When the current step's hold ends (its label delay added when a metric
// is compared, as the controller does), or what a paused step waits for.
function holdEnd(r, s) {
  const a = r.analysis || {};
  const extra = a.metric && a.label_delay_seconds ? a.label_delay_seconds : 0;
  const t = Date.parse(s.started_at || r.step_started_at);
  return Number.isNaN(t) ? null : new Date(t + (s.hold_seconds + extra) * 1000).toISOString();
}

function stepWait(r, s) {
  if (r.state === 'paused') return h('span.muted', 'paused: not judged until resumed');
  const end = holdEnd(r, s);
  if (!end) return null;
  return Date.parse(end) > Date.now()
    ? h('span.muted', 'hold ends ', timeEl(end))
    : h('span.muted', 'hold over: waiting for nodes, predictions' + ((r.analysis || {}).metric ? ' or labels' : ''));
}

function stepNote(r, s) {
  const min = (r.analysis || {}).min_predictions ?? 0;
  switch (s.state) {
    case 'pending': return 'Not reached yet.';
    case 'running': {
      const end = holdEnd(r, s);
      return 'Runs now. Judged after its hold' + (end ? ' (until ' + fmtTime(end) + ')' : '') +
        ', once every node runs the candidate' + (min ? ' and ' + min + ' predictions were logged under it' : '') + '.';
    }
    case 'paused': return 'Paused: not judged until resumed; resuming starts the step over.';
    case 'passed': return 'Passed: no checks are configured, so it passed once it held' + (min ? ' and saw ' + min + ' predictions' : '') + '.';
    case 'skipped': return 'Skipped: the rollout was ' + (r.state === 'aborted' ? 'aborted' : 'promoted') + ' before this step.';
    case 'aborted': return 'Aborted before it was judged.';
    case 'promoted': return 'Promoted by hand before it was judged.';
    default: return 'No checks recorded.';
  }
}

const CHECK_NAMES = {
  candidate_drift_share: 'Candidate drift share',
  candidate_vs_baseline_drift_share: 'Candidate vs baseline drift share',
  agreement: 'Agreement with the baseline',
  mean_abs_diff: 'Mean absolute difference',
  rank_correlation: 'Rank correlation',
};

function checkName(name) {
  if (CHECK_NAMES[name]) return CHECK_NAMES[name];
  const m = /^(.+)_drop$/.exec(name);
  return m ? m[1] + ' drop vs baseline' : name;
}

function opText(op) { return op === '>=' ? '≥' : op === '<=' ? '≤' : op; }

function checksTable(checks) {
  const { table: t, body } = table(['Check', 'Value', 'Must be', 'Result', 'Detail'], 'checks-table');
  fill(body, checks.map((c) => h('tr', { class: c.passed ? null : 'check-failed', dataset: { check: c.name, passed: String(!!c.passed) } },
    h('td', h('strong', checkName(c.name)), h('div', h('code.muted', c.name))),
    h('td.num.check-value', c.value === null || c.value === undefined ? h('span.muted', 'not computed') : fmtNum(c.value)),
    h('td.nowrap.check-threshold', c.threshold === null || c.threshold === undefined ? h('span.muted', 'informational') : opText(c.op) + ' ' + fmtNum(c.threshold)),
    h('td.check-result', c.passed ? badge('✓ pass', 'ok') : badge('✗ fail', 'bad')),
    h('td.check-detail', c.detail ? c.detail : h('span.muted', '—')))));
  return h('div.table-wrap', t);
}

// An event's detail: the checks that ended a step, or anything else as text.
function detailText(d) {
  if (Array.isArray(d)) {
    if (!d.length) return h('span.reason', 'no checks');
    return h('span.tl-checks', d.map((c) => h('span.tl-check', { class: c.passed ? null : 'failed' },
      (c.passed ? '✓ ' : '✗ ') + c.name + ' ' + fmtNum(c.value) +
      (c.threshold === null || c.threshold === undefined ? '' : ' (' + opText(c.op) + ' ' + fmtNum(c.threshold) + ')'))));
  }
  return h('span.reason', typeof d === 'string' ? d : JSON.stringify(d));
}

export function fmtDuration(s) {
  if (typeof s !== 'number' || !Number.isFinite(s)) return '—';
  if (s < 120) return s + ' s';
  if (s < 7200) return Math.round(s / 60) + ' min';
  if (s < 172800) return fmtNum(s / 3600, 2) + ' h';
  return fmtNum(s / 86400, 2) + ' d';
}
