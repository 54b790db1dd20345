// seed.mjs - fills a fresh modelwatch with what the dashboard shows: two
// models, versions with artifacts and metrics, aliases with history, serving
// nodes, a reference set, drifting predictions with stored evaluations, a
// channel, rules and a firing alert (seed); a third model with a running, a
// promoted and an aborted rollout (seedRollouts). Everything through the
// REST API.

import crypto from 'node:crypto';

function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const pick = (xs, w) => {
    let u = next() * w.reduce((s, x) => s + x, 0);
    for (let i = 0; i < xs.length; i++) { u -= w[i]; if (u <= 0) return xs[i]; }
    return xs[xs.length - 1];
  };
  return { next, normal, pick };
}

const SCHEMA = {
  features: [
    { name: 'age', type: 'numeric' },
    { name: 'income', type: 'numeric' },
    { name: 'tenure_months', type: 'numeric' },
    { name: 'plan', type: 'categorical' },
    { name: 'region', type: 'categorical' },
  ],
  prediction: { type: 'numeric' },
};

// One row; `shift` in [0, 1] moves age, income and plan away from the
// reference distribution.
function row(r, shift) {
  const age = 38 + 9 * r.normal() + 14 * shift;
  const income = Math.exp(10.6 + 0.4 * r.normal() + 0.5 * shift);
  const tenure = Math.max(0, 24 + 12 * r.normal());
  const plan = r.pick(['basic', 'plus', 'pro'], [0.6 - 0.4 * shift, 0.3, 0.1 + 0.4 * shift]);
  const region = r.pick(['eu', 'us', 'apac'], [0.4, 0.4, 0.2]);
  const score = 1 / (1 + Math.exp(-(0.04 * (age - 40) + 0.3 * r.normal())));
  return {
    features: { age: +age.toFixed(2), income: Math.round(income), tenure_months: +tenure.toFixed(1), plan, region },
    prediction: +score.toFixed(4),
  };
}

async function version(srv, model, body, bytes) {
  const v = await srv.api('POST', '/api/v1/models/' + model + '/versions', body);
  const sha = crypto.createHash('sha256').update(bytes).digest('hex');
  await srv.api('PUT', '/api/v1/models/' + model + '/versions/' + v.version + '/artifact', undefined,
    { raw: bytes, headers: { 'X-Content-SHA256': sha, 'Content-Type': 'application/octet-stream' } });
  return v.version;
}

export async function seed(srv, { nodeUrl, deadUrl }) {
  const A = (m, p, b, o) => srv.api(m, p, b, o);
  await A('POST', '/api/v1/models', { name: 'churn', description: 'Predicts which subscribers cancel within 30 days', tags: { team: 'growth', framework: 'xgboost' } });
  await A('POST', '/api/v1/models', { name: 'fraud-score', description: 'Card-not-present fraud scoring', tags: { team: 'risk' } });
  const metrics = [{ auc: 0.871, f1: 0.642 }, { auc: 0.884, f1: 0.661 }, { auc: 0.889, f1: 0.67 }];
  for (let i = 0; i < 3; i++) {
    await version(srv, 'churn', { description: ['baseline', 'more features', 'retrained on Q3'][i], source: 's3://models/churn/' + (i + 1),
      run_id: 'run-' + (1200 + i), metrics: metrics[i], params: { max_depth: 6 + i }, schema: SCHEMA },
      Buffer.from('churn model weights v' + (i + 1) + ' ' + 'x'.repeat(2000 * (i + 1))));
  }
  await version(srv, 'fraud-score', { metrics: { auc: 0.93 }, schema: SCHEMA }, Buffer.from('fraud v1'));
  await version(srv, 'fraud-score', { metrics: { auc: 0.94 }, schema: SCHEMA }, Buffer.from('fraud v2'));
  // Aliases with a little history: production v1, staging v2.
  await A('PUT', '/api/v1/models/churn/aliases/production', { version: 1, expected_version: null, reason: 'first release' });
  await A('PUT', '/api/v1/models/churn/aliases/staging', { version: 2, reason: 'candidate' });
  await A('PUT', '/api/v1/models/fraud-score/aliases/production', { version: 2, reason: 'weekly retrain' });
  // Serving nodes: one that answers, one whose URL nobody listens on.
  await A('POST', '/api/v1/nodes', { name: 'serve-eu-1', url: nodeUrl, models: ['churn'] });
  await A('POST', '/api/v1/nodes/serve-eu-1/status', { models: [{ name: 'churn', version: 1, state: 'loaded' }] });
  await A('POST', '/api/v1/nodes', { name: 'serve-us-1', url: deadUrl, models: ['fraud-score'] });
  await A('POST', '/api/v1/nodes/serve-us-1/status', { models: [{ name: 'fraud-score', version: 1, state: 'loaded' }] });
  // An alias move for fraud-score after the node exists: its webhook to the
  // dead URL is attempted once and dies (the server runs with one attempt).
  await A('PUT', '/api/v1/models/fraud-score/aliases/production', { version: 1, reason: 'latency regression' });

  // Monitoring: a reference set, then predictions drifting over the last hour,
  // evaluated window by window so the history has a rising drift share.
  const r = rng(42);
  const ref = [];
  for (let i = 0; i < 400; i++) ref.push(row(r, 0));
  await A('PUT', '/api/v1/models/churn/versions/1/reference', { rows: ref });
  const now = Date.now();
  const slices = 8;
  const shifts = [0, 0, 0.05, 0.1, 0.25, 0.45, 0.7, 1.0];
  let id = 0;
  // Data quality going wrong with the drift (its own generator, so the
  // rows above stay as they were): missing incomes, a plan the reference
  // never saw, and rows with a broken tenure that go to the quarantine.
  const q = rng(7);
  for (let s = 0; s < slices; s++) {
    const start = now - (slices - s) * 5 * 60000;
    const batch = [];
    for (let i = 0; i < 150; i++) {
      const x = row(r, shifts[s]);
      if (s >= 5 && q.next() < 0.06) x.features.income = null;
      if (s >= 6 && q.next() < 0.08) x.features.plan = 'enterprise';
      if (s >= 6 && i % 50 === 7) x.features.tenure_months = 'n/a';
      batch.push({ id: 'p' + (id++), timestamp: new Date(start + i * 1900).toISOString(), ...x });
    }
    await A('POST', '/api/v1/models/churn/versions/1/predictions?on_invalid=quarantine', { predictions: batch });
  }
  for (let s = 0; s < slices; s++) {
    const from = new Date(now - (slices - s) * 5 * 60000).toISOString();
    const to = new Date(now - (slices - s - 1) * 5 * 60000).toISOString();
    await A('POST', '/api/v1/models/churn/versions/1/drift/evaluate?from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(to));
  }

  // Alerts: a channel, a rule on the prediction volume that fires at once,
  // and a rule on the drift share that holds but waits out its `for`
  // (pending).
  await A('POST', '/api/v1/channels', { name: 'ml-oncall', type: 'slack', url: nodeUrl + '/chat' });
  await A('POST', '/api/v1/alert-rules', {
    name: 'churn-volume', model: 'churn', alias: 'production', metric: 'prediction_count', op: '>=', threshold: 0,
    for_seconds: 0, window_seconds: 3600, interval_seconds: 3600, severity: 'warning', labels: { team: 'growth' },
    channels: ['ml-oncall'],
  });
  await A('POST', '/api/v1/alert-rules', {
    name: 'churn-drift', model: 'churn', alias: 'production', metric: 'dataset_drift_share', op: '>=', threshold: 0.5,
    for_seconds: 600, window_seconds: 3600, interval_seconds: 3600, severity: 'critical', labels: {}, channels: ['ml-oncall'],
  });
  const ev = await A('POST', '/api/v1/alert-rules/churn-volume/evaluate');
  await A('POST', '/api/v1/alert-rules/churn-drift/evaluate');
  return { firing: ev };
}

// Rollouts of a third model, `upsell`, which has no serving node (a step
// then waits for none) and no alert rule (an abort tells no chat channel),
// so nothing here reaches the webhook receiver the other checks count:
//  1. v3 onto staging (v1) with holds of an hour: still running when the
//     test looks, and the oldest of the three (the model page lists it
//     first all the same);
//  2. v2 onto production (v1) in two short steps, its drift checked
//     against its reference set while matching predictions arrive:
//     promoted by the controller;
//  3. v3 onto production (now v2), its predictions far from its
//     reference: the drift check fails and the controller aborts it.
// Needs the server's controller ticking fast (--rollout-tick-ms 200).
// Returns {running, promoted, aborted} as they ended up.
export async function seedRollouts(srv) {
  const A = (m, p, b, o) => srv.api(m, p, b, o);
  const base = '/api/v1/models/upsell';
  await A('POST', '/api/v1/models', { name: 'upsell', description: 'Propensity to take the next plan up', tags: { team: 'growth' } });
  for (let i = 1; i <= 3; i++)
    await version(srv, 'upsell', { description: 'upsell v' + i, metrics: { auc: 0.8 + i / 100 }, schema: SCHEMA }, Buffer.from('upsell weights v' + i));
  await A('PUT', base + '/aliases/production', { version: 1, expected_version: null, reason: 'first release' });
  await A('PUT', base + '/aliases/staging', { version: 1, expected_version: null, reason: 'first release' });
  const r = rng(7);
  const ref = [];
  for (let i = 0; i < 200; i++) ref.push(row(r, 0));
  await A('PUT', base + '/versions/2/reference', { rows: ref });
  await A('PUT', base + '/versions/3/reference', { rows: ref });

  const running = await A('POST', base + '/rollouts', {
    alias: 'staging', candidate_version: 3, mode: 'canary',
    steps: [{ weight_percent: 5, hold_seconds: 3600 }, { weight_percent: 25, hold_seconds: 3600 }, { weight_percent: 100, hold_seconds: 3600 }],
    analysis: { min_predictions: 0, max_drift_share: 0.5 },
  });
  // Logs predictions under `version` (timestamped now, so inside the
  // running step's window) until the rollout leaves `running`.
  let n = 0;
  const feed = async (id, version, shift) => {
    const end = Date.now() + 30000;
    for (;;) {
      const batch = [];
      for (let i = 0; i < 40; i++) batch.push({ id: 'u' + (n++), timestamp: new Date().toISOString(), ...row(r, shift) });
      await A('POST', base + '/versions/' + version + '/predictions', { predictions: batch });
      const ro = await A('GET', base + '/rollouts/' + id);
      if (ro.state !== 'running') return ro;
      if (Date.now() > end) throw new Error('rollout ' + id + ' still running after 30 s: ' + JSON.stringify(ro).slice(0, 600));
      await new Promise((res) => setTimeout(res, 250));
    }
  };
  const p = await A('POST', base + '/rollouts', {
    alias: 'production', candidate_version: 2, mode: 'canary',
    steps: [{ weight_percent: 10, hold_seconds: 1 }, { weight_percent: 50, hold_seconds: 1 }],
    analysis: { min_predictions: 40, max_drift_share: 0.5 },
  });
  const promoted = await feed(p.id, 2, 0);
  const a = await A('POST', base + '/rollouts', {
    alias: 'production', candidate_version: 3, mode: 'canary',
    steps: [{ weight_percent: 5, hold_seconds: 1 }, { weight_percent: 100, hold_seconds: 1 }],
    analysis: { min_predictions: 40, max_drift_share: 0.3 },
  });
  const aborted = await feed(a.id, 3, 1);
  return { running, promoted, aborted };
}
