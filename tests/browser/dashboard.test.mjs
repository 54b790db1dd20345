// dashboard.test.mjs - the operator dashboard in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core) against the real binary:
// sign in, see a model, promote a version, roll it back with a reason, see
// the history entry and the node's desired version change, see a protected
// alias offer only approved versions, approve one as a reviewer, follow a
// model's rollouts (the list, a promoted one's steps, checks and weight
// chart, an aborted one's failed check, pause and resume a running one, its
// 2 s polling that stops when the page is left), see a firing alert and
// silence it, retry a dead delivery, sign out; a read-only token sees no
// control. A screenshot of each page goes to <build>/screenshots/.
//
// Run by ctest (tests/CMakeLists.txt) with MODELWATCH_BIN and MW_BUILD_DIR;
// by hand: node tests/browser/dashboard.test.mjs (uses build/modelwatch).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer, freePort } from './server.mjs';
import { seed, seedRollouts } from './seed.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const BIN = process.env.MODELWATCH_BIN || path.join(root, 'build', 'modelwatch');
const BUILD = process.env.MW_BUILD_DIR || path.join(root, 'build');
const SHOTS = path.join(BUILD, 'screenshots');
const CHROMIUM = process.env.MW_CHROMIUM || '/usr/bin/chromium';
const T = 15000; // per wait: generous for a loaded 2-core CI machine

const t0 = Date.now();
const step = (name) => console.log('[%s s] %s', ((Date.now() - t0) / 1000).toFixed(1), name);

// A serving node and chat endpoint: answers every webhook with 204 and
// remembers what it got.
const received = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    received.push({ url: req.url, headers: req.headers, body });
    res.writeHead(204);
    res.end();
  });
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const nodeUrl = 'http://127.0.0.1:' + receiver.address().port + '/node';
const deadUrl = 'http://127.0.0.1:' + (await freePort()) + '/node'; // nobody listens

let srv = null;
let ctx = null;
let userDir = null;
let failed = false;
const problems = [];
let expect404 = false; // a step that asks for what the token may not see
try {
  step('start modelwatch');
  srv = await startServer({
    bin: BIN,
    args: ['--alert-group-wait-seconds', '0', '--allow-private-webhooks', 'on',
      '--delivery-max-attempts', '1', '--access-log', 'off', '--rollout-tick-ms', '200'],
  });
  step('seed through the API');
  await seed(srv, { nodeUrl, deadUrl });
  // The rollouts take a few seconds of the controller's time: seeded while
  // the browser starts and the first pages are checked.
  const rolloutsSeeded = seedRollouts(srv);
  rolloutsSeeded.catch(() => {}); // awaited (and so thrown) where it is used
  await waitFor(async () => {
    const d = await srv.api('GET', '/api/v1/deliveries?state=dead');
    return d.deliveries.length > 0;
  }, 'the delivery to the dead node to die');

  step('launch chromium');
  fs.mkdirSync(SHOTS, { recursive: true });
  fs.rmSync(path.join(SHOTS, 'failure.png'), { force: true });
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mwchromium-'));
  process.on('exit', () => fs.rmSync(userDir, { recursive: true, force: true }));
  ctx = await chromium.launchPersistentContext(userDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 900 },
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(T);
  // Any script error, CSP violation or failed asset fails the test.
  const problem = (text) => { problems.push(text); console.error('  PROBLEM ' + text); };
  page.on('pageerror', (e) => problem('page error: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[139]/.test(m.text()) &&
      !(expect404 && /status of 404/.test(m.text()))) problem('console: ' + m.text());
  });
  page.on('response', (r) => {
    if (r.url().includes('/static/') && r.status() !== 200) problem('asset ' + r.url() + ' -> ' + r.status());
  });

  // ---- sign in ----
  step('sign in');
  const resp = await page.goto(srv.base + '/');
  const csp = resp.headers()['content-security-policy'] || '';
  assert.match(csp, /script-src 'self'/, 'the dashboard is served with a CSP');
  await page.waitForSelector('#signin-form');
  await shot(page, 'signin');
  await page.fill('#token', 'mw_not_a_real_token');
  await page.click('#signin-submit');
  await page.waitForSelector('#signin-form .form-error:not([hidden])');
  await page.fill('#token', srv.token);
  await page.click('#signin-submit');

  // ---- models ----
  step('models page');
  await page.waitForSelector('#models-table tr[data-model="churn"]');
  const churnRow = page.locator('#models-table tr[data-model="churn"]');
  await expectText(churnRow, /production\s*v1/);
  await expectText(churnRow, /staging\s*v2/);
  await expectText(churnRow, /v3/);
  await expectText(churnRow, /drifting/);
  await page.waitForSelector('#models-table tr[data-model="fraud-score"]');
  const cookies = await ctx.cookies(srv.base);
  const sess = cookies.find((c) => c.name === 'mw_session');
  assert.ok(sess && sess.httpOnly && sess.sameSite === 'Strict', 'session cookie is HttpOnly, SameSite=Strict');
  await loaded(page);
  await shot(page, 'models');
  // search narrows the list; markup in data stays text
  const evil = '<img src=x onerror="window.__xss=1">';
  await srv.api('POST', '/api/v1/models', { name: 'probe', description: evil });
  await page.fill('#model-search', 'prob');
  await page.waitForSelector('#models-table tr[data-model="churn"]', { state: 'detached' });
  await expectText(page.locator('#models-table tr[data-model="probe"]'), /<img src=x onerror=/);
  assert.equal(await page.locator('#models-table img').count(), 0, 'data is never parsed as markup');
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await srv.api('DELETE', '/api/v1/models/probe');
  await page.fill('#model-search', '');
  await page.waitForSelector('#models-table tr[data-model="churn"]');

  // ---- model: promote v2 to production ----
  step('model page: promote');
  await page.click('#models-table tr[data-model="churn"] a.model-link');
  await page.waitForSelector('.alias-block[data-alias="production"]');
  const prodVersion = page.locator('.alias-block[data-alias="production"] [data-role="alias-version"]');
  await expectText(prodVersion, /^v1$/);
  const nodeRow = page.locator('#nodes-table tr[data-node="serve-eu-1"]');
  await expectText(nodeRow.locator('td.desired'), /v1/);
  await expectText(nodeRow.locator('td.reported'), /v1/);
  await page.waitForSelector('#versions-table tr[data-version="3"]');
  await page.fill('#promote-alias', 'production');
  await page.selectOption('#promote-version', '2');
  await expectText(page.locator('#promote-current'), /production → v1/);
  await page.click('#promote-submit');
  await page.waitForSelector('#promote-dialog');
  await page.fill('#promote-dialog textarea[name="reason"]', 'v2 passed the canary');
  await page.click('#promote-dialog [data-action="confirm"]');
  await page.waitForSelector('#promote-dialog', { state: 'detached' });
  await expectText(prodVersion, /^v2$/);
  // the node should now load v2: desired moved, reported not yet -> highlighted
  await expectText(nodeRow.locator('td.desired'), /v2/);
  await page.waitForSelector('#nodes-table tr.out-of-sync[data-node="serve-eu-1"]');
  await expectText(page.locator('.alias-block[data-alias="production"] .timeline li').first(), /set[\s\S]*v1[\s\S]*v2[\s\S]*v2 passed the canary/i);

  // ---- rollback with a reason ----
  step('model page: rollback');
  await page.click('.alias-block[data-alias="production"] [data-action="rollback"]');
  await page.waitForSelector('#rollback-dialog');
  await expectText(page.locator('#rollback-dialog'), /from v2 back to v1/);
  await page.click('#rollback-dialog [data-action="confirm"]'); // no reason: refused
  await expectText(page.locator('#rollback-dialog .form-error'), /Reason is required/);
  await page.fill('#rollback-dialog textarea[name="reason"]', 'error rate doubled after the move');
  await page.click('#rollback-dialog [data-action="confirm"]');
  await page.waitForSelector('#rollback-dialog', { state: 'detached' });
  await expectText(prodVersion, /^v1$/);
  const top = page.locator('.alias-block[data-alias="production"] .timeline li').first();
  await expectText(top, /rollback/i);
  await expectText(top, /error rate doubled after the move/);
  await expectText(top, /token:admin/);
  await expectText(nodeRow.locator('td.desired'), /v1/);
  await page.waitForSelector('#nodes-table tr[data-node="serve-eu-1"]:not(.out-of-sync)');
  const hist = await srv.api('GET', '/api/v1/models/churn/aliases/production/history');
  assert.equal(hist.history[0].kind, 'rollback');
  assert.equal(hist.history[0].reason, 'error rate doubled after the move');
  await waitFor(() => received.filter((r) => r.url === '/node').length >= 2, 'the node to receive both alias.moved commands');
  const moves = received.filter((r) => r.url === '/node').map((r) => JSON.parse(r.body));
  // (deliveries to one node may run concurrently: compare as a set)
  assert.deepEqual(moves.map((m) => m.from_version + '->' + m.to_version).sort(), ['1->2', '2->1']);
  assert.ok(received[0].headers['webhook-signature'], 'node commands are signed');
  // A promotion from a stale view is refused (compare-and-swap): the dialog
  // is open for "production v1 -> v3" when someone else moves production.
  step('model page: compare-and-swap conflict');
  await page.selectOption('#promote-version', '3');
  await expectText(page.locator('#promote-current'), /production → v1/);
  await page.click('#promote-submit');
  await page.waitForSelector('#promote-dialog');
  await srv.api('PUT', '/api/v1/models/churn/aliases/production', { version: 2, reason: 'moved by CI meanwhile' });
  await page.click('#promote-dialog [data-action="confirm"]');
  await expectText(page.locator('#promote-dialog .form-error'), /Refused/);
  await page.click('#promote-dialog [data-action="cancel"]');
  await page.waitForSelector('#promote-dialog', { state: 'detached' });
  assert.equal((await srv.api('GET', '/api/v1/models/churn')).aliases.production, 2, 'a refused promotion changes nothing');
  await expectText(prodVersion, /^v2$/);
  await expectText(top, /moved by CI meanwhile/);
  // A protected alias offers only what it accepts.
  step('model page: protected alias');
  await srv.api('PUT', '/api/v1/models/churn/protected-aliases/production', { require_approval: true });
  await page.reload();
  await page.waitForSelector('.alias-block[data-alias="production"] [data-role="protected"]');
  await expectText(page.locator('#promote-current'), /protected/);
  await page.waitForSelector('#promote-version option[value="3"][disabled]', { state: 'attached' });
  // production went v1, v2, back to v1, v2 again: v1 was never approved,
  // so the rollback to it is not offered.
  assert.equal(await page.locator('.alias-block[data-alias="production"] [data-action="rollback"]').count(), 0,
    'no rollback a protected alias would refuse');
  // The admin token created every version: no decision on them is offered.
  assert.equal(await page.locator('#versions-table [data-action="approve"]').count(), 0,
    'no decision on the versions the token created');
  await expectText(page.locator('#versions-table tr[data-version="3"] td.approval'), /undecided/);
  await loaded(page);
  await shot(page, 'model');

  // ---- drift ----
  step('drift page');
  await page.click('#versions-table tr[data-version="1"] a:has-text("Drift")');
  await page.waitForSelector('#columns-table tr[data-column="age"]');
  await expectText(page.locator('#drift-summary .tile-share'), /drifting/);
  await expectText(page.locator('#columns-table tr[data-column="age"]'), /ks[\s\S]*drifted/);
  await expectText(page.locator('#columns-table tr[data-column="region"]'), /chi2[\s\S]*no/);
  await page.waitForSelector('#share-chart .uplot');
  await page.click('#columns-table tr[data-column="plan"]');
  await page.waitForSelector('#columns-table tr.selected[data-column="plan"]');
  await expectText(page.locator('#column-card h2'), /plan/);
  await page.waitForSelector('#column-hist .uplot');
  await page.waitForSelector('#column-chart .uplot');
  // Data quality: the seeded window has missing incomes, a plan the
  // reference never saw and rows quarantined for a broken tenure; the
  // chosen column's histogram draws the window's categories next to the
  // reference's.
  await expectText(page.locator('#drift-summary .tile-quarantine'), /Quarantined rows[\s\S]*[1-9]/i);
  await expectText(page.locator('#columns-table tr[data-column="income"] td.q-missing'), /^[0-9.]+ %$/);
  assert.ok(await page.locator('#columns-table tr[data-column="income"] td.q-missing.warn').count() === 1, 'missing incomes flagged');
  assert.ok(await page.locator('#columns-table tr[data-column="plan"] td.q-flagged.warn').count() === 1, 'unseen plan flagged');
  await expectText(page.locator('#columns-table tr[data-column="tenure_months"] td.q-invalid'), /^[1-9]/);
  await expectText(page.locator('#quality-table'), /Categories unseen in the reference[\s\S]*%/);
  await expectText(page.locator('#column-hist'), /reference[\s\S]*current/);
  await loaded(page);
  await shot(page, 'drift');

  // Segments: split by region, every value a row, one shown on the page.
  step('drift page: segments');
  await page.selectOption('#segment-column', 'region');
  await page.waitForSelector('#segments-table tr[data-segment="eu"]');
  assert.equal(await page.locator('#segments-table tbody tr').count(), 3, 'eu, us and apac');
  await page.click('#segments-table tr[data-segment="apac"]');
  await page.waitForSelector('#segments-table tr.selected[data-segment="apac"]');
  await expectText(page.locator('#drift-summary .tile-segment'), /apac[\s\S]*region/);
  // The segment's own columns: region is left out of its segments.
  await page.waitForSelector('#columns-table tr[data-column="age"]');
  assert.equal(await page.locator('#columns-table tr[data-column="region"]').count(), 0);
  await loaded(page);
  await shot(page, 'drift-segments');
  await page.selectOption('#segment-value', 's:eu');
  await expectText(page.locator('#drift-summary .tile-segment'), /eu/);
  await page.selectOption('#segment-column', '');
  await page.waitForSelector('#columns-table tr[data-column="region"]');
  await page.waitForSelector('#segments-card', { state: 'hidden' });

  // ---- rollouts: the model's list, a promoted, an aborted and a running one ----
  step('model page: rollouts');
  const { running, promoted, aborted } = await rolloutsSeeded;
  assert.equal(running.state, 'running');
  assert.equal(promoted.state, 'promoted');
  assert.equal(aborted.state, 'aborted');
  await page.goto(srv.base + '/#/models/upsell');
  const rolloutRow = (r) => page.locator(`#rollouts-table tr[data-rollout-id="${r.id}"]`);
  await rolloutRow(promoted).waitFor();
  await rolloutRow(aborted).waitFor();
  // The running one first and highlighted though it is the oldest; then
  // newest first.
  assert.deepEqual(await page.locator('#rollouts-table tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.rolloutId)),
    [running.id, aborted.id, promoted.id].map(String));
  await page.waitForSelector(`#rollouts-table tr.rollout-active[data-rollout-id="${running.id}"]`);
  await expectText(rolloutRow(running), /running[\s\S]*staging[\s\S]*v1[\s\S]*v3[\s\S]*step 1\/3 · 5 %/);
  await expectText(rolloutRow(promoted), /promoted[\s\S]*every step passed[\s\S]*production[\s\S]*v1[\s\S]*v2[\s\S]*step 2\/2 · 100 %/);
  await expectText(rolloutRow(aborted), /aborted[\s\S]*candidate_drift_share failed[\s\S]*production[\s\S]*v2[\s\S]*v3/);
  assert.equal(await page.locator('#rollouts-table tr.rollout-active').count(), 1, 'only the running rollout is highlighted');
  // The alias under rollout says so and links to it.
  await expectText(page.locator('.alias-block[data-alias="staging"] [data-role="alias-rollout"]'), /canary running[\s\S]*v3[\s\S]*5 %/);
  assert.equal(await page.locator('.alias-block[data-alias="production"] [data-role="alias-rollout"]').count(), 0);
  await loaded(page);
  await shot(page, 'model-rollouts');

  step('rollout page: promoted');
  await rolloutRow(promoted).locator('a.rollout-link').click();
  await page.waitForSelector('#rollout-steps .step-block[data-step="1"]');
  assert.equal(new URL(page.url()).hash, '#/models/upsell/rollouts/' + promoted.id);
  await expectText(page.locator('h1'), new RegExp('Rollout #' + promoted.id + '\\s*promoted'));
  await expectText(page.locator('#rollout-subtitle'), /canary of\s*v2\s*onto production, replacing\s*v1\s*· started by token:admin/);
  await expectText(page.locator('#rollout-reason'), /Promoted: every step passed its checks/);
  for (const [i, w] of [[0, 10], [1, 50]]) {
    const blk = page.locator(`#rollout-steps .step-block[data-step="${i}"][data-state="passed"]`);
    await expectText(blk.locator('.step-head'), new RegExp('Step ' + (i + 1) + '\\s*passed\\s*' + w + ' %'));
    await expectText(blk.locator('tr[data-check="candidate_drift_share"][data-passed="true"]'),
      /Candidate drift share[\s\S]*≤ 0\.5[\s\S]*pass[\s\S]*columns drifted; \d+ candidate rows/);
  }
  await page.waitForSelector('#weight-chart .uplot');
  assert.match(await page.locator('#weight-chart').getAttribute('aria-label'), /^candidate weight over time: 10 % from .*, 50 % from .*, 100 % from [^,]*$/);
  assert.deepEqual(await page.locator('#rollout-events li').evaluateAll((lis) => lis.map((l) => l.dataset.kind)), ['started', 'step', 'promoted']);
  await expectText(page.locator('#rollout-events li[data-kind="promoted"]'), /step 2[\s\S]*100 %[\s\S]*rollout-controller[\s\S]*candidate_drift_share/);
  assert.equal(await page.locator('#rollout-controls button').count(), 0, 'nothing to do to an ended rollout');
  await loaded(page);
  await shot(page, 'rollout-promoted');

  step('rollout page: aborted');
  await page.goto(srv.base + '/#/models/upsell/rollouts/' + aborted.id);
  const failedStep = page.locator('#rollout-steps .step-block[data-step="0"][data-state="failed"]');
  await expectText(failedStep.locator('tr.check-failed[data-check="candidate_drift_share"][data-passed="false"]'), /≤ 0\.3[\s\S]*fail/);
  await expectText(page.locator('#rollout-steps .step-block[data-step="1"]'), /skipped[\s\S]*aborted before this step/);
  await expectText(page.locator('#rollout-reason'), /Aborted: step 1 check candidate_drift_share failed/);
  await expectText(page.locator('#rollout-summary .tile-weight'), /0 %/);
  await loaded(page);

  // The exact route of a chat notice's link; polled every 2 s while it runs.
  step('rollout page: running, pause and resume');
  const runningPath = '/api/v1/models/upsell/rollouts/' + running.id;
  const polls = [];
  const onRequest = (req) => { if (new URL(req.url()).pathname === runningPath && req.method() === 'GET') polls.push(Date.now()); };
  page.on('request', onRequest);
  await page.goto(srv.base + '/#/models/upsell/rollouts/' + running.id);
  const stateTile = page.locator('#rollout-summary .tile-state');
  await expectText(stateTile, /running/);
  await expectText(page.locator('#rollout-summary .tile-step'), /1 of 3[\s\S]*hold ends in (59|60) min/);
  await page.waitForSelector('#weight-chart .uplot');
  await expectText(page.locator('#rollout-steps .step-block.step-current[data-step="0"]'), /running[\s\S]*5 %[\s\S]*Runs now/);
  await page.waitForSelector('#rollout-pause');
  await page.waitForSelector('#rollout-promote');
  await page.waitForSelector('#rollout-abort');
  assert.equal(await page.locator('#rollout-resume').count(), 0, 'no resume of a running rollout');
  await waitFor(() => polls.length >= 3, 'two refreshes of the running rollout within 6 s', 6000);
  await loaded(page);
  await shot(page, 'rollout-running');
  await page.click('#rollout-pause');
  await page.waitForSelector('#rollout-dialog');
  await expectText(page.locator('#rollout-dialog'), /keep sending 5 % to v3/);
  await page.fill('#rollout-dialog textarea[name="reason"]', 'latency check by Ana');
  await page.click('#rollout-dialog [data-action="confirm"]');
  await page.waitForSelector('#rollout-dialog', { state: 'detached' });
  await expectText(stateTile, /paused/);
  let got = await srv.api('GET', runningPath);
  assert.equal(got.state, 'paused', 'the page paused the rollout');
  assert.match(got.reason, /latency check by Ana/);
  await expectText(page.locator('#rollout-reason'), /Paused:[\s\S]*latency check by Ana/);
  await page.waitForSelector('#rollout-events li[data-kind="paused"]');
  await page.waitForSelector('#rollout-resume');
  assert.equal(await page.locator('#rollout-pause').count(), 0, 'no pause of a paused rollout');
  await page.click('#rollout-resume');
  await page.waitForSelector('#rollout-dialog');
  await page.click('#rollout-dialog [data-action="confirm"]'); // the reason is optional
  await page.waitForSelector('#rollout-dialog', { state: 'detached' });
  await expectText(stateTile, /running/);
  got = await srv.api('GET', runningPath);
  assert.equal(got.state, 'running', 'the page resumed the rollout');
  assert.deepEqual(got.events.map((e) => e.kind), ['started', 'paused', 'resumed']);
  assert.deepEqual(got.events.slice(1).map((e) => e.actor), ['token:admin', 'token:admin']);
  await page.waitForSelector('#rollout-events li[data-kind="resumed"]');
  await page.waitForSelector('#rollout-pause');
  // A pause the page did not see coming (someone else's) is refused with
  // the server's reason, and the page catches up.
  await page.click('#rollout-pause');
  await page.waitForSelector('#rollout-dialog');
  await srv.api('POST', runningPath + '/pause', { reason: 'paused from the CLI' });
  await page.click('#rollout-dialog [data-action="confirm"]');
  await expectText(page.locator('#rollout-dialog .form-error'), /Refused:[\s\S]*cannot pause/);
  await page.click('#rollout-dialog [data-action="cancel"]');
  await page.waitForSelector('#rollout-dialog', { state: 'detached' });
  await expectText(stateTile, /paused/);
  await srv.api('POST', runningPath + '/resume', {});
  await page.goto(srv.base + '/#/models/upsell');
  await page.waitForSelector(`#rollouts-table tr[data-rollout-id="${running.id}"]`);
  const leftAt = Date.now();

  // ---- alerts: firing, silence, dead delivery retry ----
  step('alerts page');
  await page.click('#nav a[data-nav="alerts"]');
  const alertRow = page.locator('#alerts-table tr[data-rule="churn-volume"][data-state="firing"]');
  await alertRow.waitFor();
  await expectText(page.locator('#firing-count'), /^1$/);
  await page.waitForSelector('#rules-table tr[data-rule="churn-drift"]');
  await page.waitForSelector('#deliveries-table tr[data-state="dead"]');
  await loaded(page);
  await shot(page, 'alerts');
  await alertRow.locator('[data-action="silence"]').click();
  await page.waitForSelector('#silence-dialog');
  await expectText(page.locator('#silence-dialog'), /alertname="churn-volume"/);
  await page.selectOption('#silence-dialog select[name="duration"]', '3600');
  await page.fill('#silence-dialog textarea[name="comment"]', 'looking into the volume, Ana');
  await page.click('#silence-dialog [data-action="confirm"]');
  await page.waitForSelector('#silence-dialog', { state: 'detached' });
  await expectText(alertRow, /silenced/);
  await expectText(page.locator('#silences-table'), /looking into the volume, Ana/);
  await page.waitForSelector('#firing-count', { state: 'hidden' });
  await alertRow.locator('[data-action="ack"]').click();
  await expectText(alertRow, /acked/);
  const alerts = await srv.api('GET', '/api/v1/alerts?state=firing');
  assert.ok(alerts.alerts[0].silenced && alerts.alerts[0].acked_by === 'token:admin');

  step('retry a dead delivery');
  const deadRow = page.locator('#deliveries-table tr[data-state="dead"]').first();
  const deadId = await deadRow.getAttribute('data-delivery-id');
  await deadRow.locator('[data-action="retry"]').click();
  await page.waitForSelector(`#deliveries-table tr[data-delivery-id="${deadId}"]:not([data-state="dead"]), ` +
    `#deliveries-table tr[data-delivery-id="${deadId}"][data-state="dead"] td:nth-child(5):has-text("2")`);
  await loaded(page);
  await shot(page, 'alerts-silenced');

  // ---- admin: subscribe a URL to events, see it, see the audit log ----
  step('admin page: subscriptions');
  await page.click('#nav a[data-nav="admin"]');
  await page.click('#subscribe');
  await page.waitForSelector('#subscribe-dialog');
  await page.fill('#subscribe-dialog input[name="name"]', 'release-notes');
  await page.fill('#subscribe-dialog input[name="url"]', nodeUrl + '/events');
  await page.fill('#subscribe-dialog input[name="events"]', 'version.approved, alias.*');
  await page.fill('#subscribe-dialog input[name="models"]', 'churn');
  await page.click('#subscribe-dialog [data-action="confirm"]');
  await page.waitForSelector('#secret-dialog');
  await expectText(page.locator('#subscription-secret'), /^whsec_/);
  await page.click('#secret-dialog [data-action="confirm"]');
  const subRow = page.locator('#subscriptions-table tr[data-subscription="release-notes"]');
  await expectText(subRow, /version\.approved, alias\.\*[\s\S]*churn/);
  await page.waitForSelector('#audit-table tr[data-action="subscription.create"]');
  await page.waitForSelector('#audit-table tr[data-action="alias.protect"]');
  await loaded(page);
  await shot(page, 'admin');

  // ---- sign out ----
  step('sign out');
  await page.click('#signout');
  await page.waitForSelector('#signin-form');
  const after = await page.evaluate(async () => (await fetch('/api/v1/models')).status);
  assert.equal(after, 401, 'the session is gone after signing out');

  // ---- a reviewer approves v3, which then goes to protected production ----
  step('reviewer approves');
  const rv = await srv.api('POST', '/api/v1/tokens', { name: 'reviewer', scopes: ['read', 'promote'] });
  await page.fill('#token', rv.token);
  await page.click('#signin-submit');
  await page.waitForSelector('#models-table tr[data-model="churn"]');
  await page.goto(srv.base + '/#/models/churn');
  await page.click('#versions-table tr[data-version="3"] [data-action="approve"]');
  await page.waitForSelector('#approval-dialog');
  await page.fill('#approval-dialog textarea[name="comment"]', 'holdout AUC 0.91, checked by Ana');
  await page.click('#approval-dialog [data-action="confirm"]');
  await page.waitForSelector('#approval-dialog', { state: 'detached' });
  const v3approval = page.locator('#versions-table tr[data-version="3"] td.approval');
  await expectText(v3approval, /approved[\s\S]*token:reviewer[\s\S]*checked by Ana/);
  await page.waitForSelector('#promote-version option[value="3"]:not([disabled])', { state: 'attached' });
  await page.selectOption('#promote-version', '3');
  await page.click('#promote-submit');
  await page.waitForSelector('#promote-dialog');
  await page.click('#promote-dialog [data-action="confirm"]');
  await page.waitForSelector('#promote-dialog', { state: 'detached' });
  await expectText(page.locator('.alias-block[data-alias="production"] [data-role="alias-version"]'), /^v3$/);
  // The subscription made on the admin page heard both.
  await waitFor(() => received.filter((r) => r.url === '/node/events').length >= 2, 'the approval and move events');
  const events = received.filter((r) => r.url === '/node/events').map((r) => JSON.parse(r.body));
  assert.deepEqual(events.map((e) => e.type), ['version.approved', 'alias.moved']);
  assert.equal(await page.locator('#nav a[data-nav="admin"]').isVisible(), false, 'no admin page below admin');
  const decided = await srv.api('GET', '/api/v1/models/churn/versions/3/approvals');
  assert.deepEqual(decided.approvals.map((a) => [a.decision, a.by, a.comment]),
    [['approved', 'token:reviewer', 'holdout AUC 0.91, checked by Ana']]);
  await loaded(page);
  await shot(page, 'model-approved');
  await page.click('#signout');
  await page.waitForSelector('#signin-form');

  // The rollout page stopped polling when it was left, seconds ago.
  assert.ok(Date.now() - leftAt > 2500);
  assert.deepEqual(polls.filter((t) => t > leftAt + 500), [], 'no refresh of a rollout page that was left');
  page.off('request', onRequest);

  // ---- a read-only token sees no buttons that change anything ----
  step('read-only token');
  const ro = await srv.api('POST', '/api/v1/tokens', { name: 'viewer', scopes: ['read'] });
  await page.fill('#token', ro.token);
  await page.click('#signin-submit');
  await page.waitForSelector('#models-table tr[data-model="churn"]');
  await page.goto(srv.base + '/#/models/churn');
  await page.waitForSelector('.alias-block[data-alias="production"]');
  await loaded(page);
  assert.equal(await page.locator('#promote-form, [data-action="rollback"], [data-action="promote-version"], ' +
    '[data-action="approve"], [data-action="reject"]').count(), 0,
    'no promote, rollback or approval controls without the promote scope');
  await page.goto(srv.base + '/#/alerts');
  await page.waitForSelector('#rules-table tr[data-rule="churn-volume"]');
  await loaded(page);
  assert.equal(await page.locator('[data-action="ack"], [data-action="silence"], [data-action="retry"], [data-action="expire"]').count(), 0,
    'no ack, silence, retry or expire without the promote scope');
  await page.goto(srv.base + '/#/models/upsell');
  await page.waitForSelector(`#rollouts-table tr[data-rollout-id="${running.id}"]`);
  await page.goto(srv.base + '/#/models/upsell/rollouts/' + running.id);
  await expectText(page.locator('#rollout-summary .tile-state'), /running/);
  await page.waitForSelector('#rollout-steps .step-block[data-step="0"]');
  await loaded(page);
  await expectText(page.locator('#rollout-controls'), /no promote scope/);
  assert.equal(await page.locator('#rollout-controls button, #rollout-pause, #rollout-resume, #rollout-abort, #rollout-promote').count(), 0,
    'no pause, resume, abort or promote without the promote scope');
  await page.click('#signout');
  await page.waitForSelector('#signin-form');

  // ---- a token limited to one model sees only that model ----
  step('token limited to a model');
  const lim = await srv.api('POST', '/api/v1/tokens', { name: 'risk-team', scopes: ['read'], models: ['fraud-*'] });
  await page.fill('#token', lim.token);
  await page.click('#signin-submit');
  await page.waitForSelector('#models-table tr[data-model="fraud-score"]');
  await loaded(page);
  assert.equal(await page.locator('#models-table tr[data-model="churn"]').count(), 0, 'churn is not listed');
  await page.goto(srv.base + '/#/alerts');
  await page.waitForSelector('#alerts-table');
  await loaded(page);
  assert.equal(await page.locator('#alerts-table tr[data-rule="churn-volume"]').count(), 0, 'nor are its alerts');
  expect404 = true;
  await page.goto(srv.base + '/#/models/churn');
  await expectText(page.locator('#app'), /No such model/);
  expect404 = false;
  assert.equal(await page.locator('#nav a[data-nav="admin"]').isVisible(), false);
  await page.click('#signout');
  await page.waitForSelector('#signin-form');

  assert.deepEqual(problems, [], 'no script errors, CSP violations or missing assets');
  step('passed');
} catch (e) {
  failed = true;
  console.error('FAIL:', e && e.stack ? e.stack : e);
  if (ctx) {
    try {
      const p = ctx.pages()[0];
      if (p) await p.screenshot({ path: path.join(SHOTS, 'failure.png'), fullPage: true });
      console.error('screenshot of the failure: ' + path.join(SHOTS, 'failure.png'));
    } catch (e2) { /* best effort */ }
  }
  if (srv) console.error('--- server log (tail) ---\n' + srv.logText().slice(-4000));
} finally {
  if (ctx) await ctx.close().catch(() => {});
  if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  if (srv) {
    const ex = await srv.stop();
    if (!failed && ex && ex.code !== 0) {
      failed = true;
      console.error('modelwatch exited with ' + JSON.stringify(ex) + ' on SIGTERM');
    }
    if (failed && process.env.MW_KEEP_DATA) console.error('data directory kept: ' + srv.dataDir);
    else srv.cleanup();
  }
  receiver.close();
  console.log(failed ? 'browser test FAILED' : 'browser test passed in ' + ((Date.now() - t0) / 1000).toFixed(1) + ' s');
  process.exit(failed ? 1 : 0);
}

// ---- helpers ----

async function shot(page, name) {
  const file = path.join(SHOTS, name + '.png');
  await page.evaluate(() => { document.getElementById('toasts').replaceChildren(); window.scrollTo(0, 0); });
  await page.screenshot({ path: file, fullPage: true });
  console.log('  screenshot ' + file);
}

// Waits until the page finished a refresh since it was (re)rendered.
async function loaded(page) {
  await page.waitForSelector('body[data-loaded="1"]');
}

// Polls locator's text until it matches re.
async function expectText(locator, re, timeout = T) {
  const end = Date.now() + timeout;
  let last = '';
  for (;;) {
    try {
      last = (await locator.innerText({ timeout: 1000 })).trim();
      if (re.test(last)) return;
    } catch (e) { last = '(' + e.message.split('\n')[0] + ')'; }
    if (Date.now() > end) throw new Error('expected ' + re + ', got: ' + JSON.stringify(last.slice(0, 400)));
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitFor(fn, what, timeout = T) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}
