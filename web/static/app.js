// app.js - the dashboard's shell: session, hash routing, polling.
//
// Routes: #/models, #/models/<name>, #/models/<name>/versions/<v>/drift,
// #/models/<name>/rollouts/<id> (the link chat notices carry), #/alerts,
// #/admin (admin tokens), #/signin. Each page module exports mount(root,
// params) and returns {refresh(), destroy?(), pollMs?()}; the shell calls
// refresh() at once and then again POLL_MS (or what pollMs() asks for, asked
// after every refresh) after each one ends, while the tab is visible.

import { h, fill } from './dom.js';
import { api, can, loadSession, signIn, signOut, session, setUnauthenticatedHandler } from './api.js';
import { toast } from './ui.js';
import * as modelsPage from './page_models.js';
import * as modelPage from './page_model.js';
import * as driftPage from './page_drift.js';
import * as rolloutPage from './page_rollout.js';
import * as alertsPage from './page_alerts.js';
import * as adminPage from './page_admin.js';

const POLL_MS = 5000;

const routes = [
  { re: /^#\/models\/([^/]+)\/versions\/(\d+)\/drift$/, page: driftPage, nav: 'models', params: (m) => ({ model: decodeURIComponent(m[1]), version: Number(m[2]) }) },
  { re: /^#\/models\/([^/]+)\/rollouts\/(\d+)$/, page: rolloutPage, nav: 'models', params: (m) => ({ model: decodeURIComponent(m[1]), id: Number(m[2]) }) },
  { re: /^#\/models\/([^/]+)$/, page: modelPage, nav: 'models', params: (m) => ({ model: decodeURIComponent(m[1]) }) },
  { re: /^#\/models\/?$/, page: modelsPage, nav: 'models', params: () => ({}) },
  { re: /^#\/alerts\/?$/, page: alertsPage, nav: 'alerts', params: () => ({}) },
  { re: /^#\/admin\/?$/, page: adminPage, nav: 'admin', params: () => ({}) },
];

let current = null;   // {inst: page instance, timer: the next refresh}
let refreshing = false;
let again = false;    // a refresh was asked for while one ran

function root() { return document.getElementById('app'); }

function stopPage() {
  if (!current) return;
  clearTimeout(current.timer);
  if (current.inst && current.inst.destroy) current.inst.destroy();
  current = null;
}

async function refresh() {
  if (!current || document.visibilityState === 'hidden') return;
  if (refreshing) { again = true; return; }
  refreshing = true;
  again = false;
  const mine = current;
  const status = document.getElementById('refresh-status');
  try {
    await mine.inst.refresh();
    if (mine === current) {
      status.textContent = 'updated ' + new Date().toLocaleTimeString();
      status.classList.remove('stale');
      document.body.dataset.loaded = '1';
    }
  } catch (e) {
    if (mine === current && e.status !== 401) {
      status.textContent = 'update failed: ' + e.message;
      status.classList.add('stale');
    }
  } finally {
    refreshing = false;
    if (mine === current) schedule();
  }
  updateFiringCount();
  if (again) refresh();
}

// The next refresh of the current page: after POLL_MS, or sooner when the
// page asks (a running rollout). A hidden tab stops the chain; showing it
// again refreshes and so restarts it.
function schedule() {
  clearTimeout(current.timer);
  const ms = (current.inst.pollMs && current.inst.pollMs()) || POLL_MS;
  const mine = current;
  current.timer = setTimeout(() => { if (mine === current) refresh(); }, ms);
}

async function updateFiringCount() {
  const el = document.getElementById('firing-count');
  if (!session()) return;
  try {
    const r = await api.get('/api/v1/alerts?state=firing');
    const n = (r.alerts || []).filter((a) => !a.silenced).length;
    el.textContent = String(n);
    el.hidden = n === 0;
  } catch (e) {
    el.hidden = true;
  }
}

function renderWho() {
  const who = document.getElementById('who');
  const s = session();
  if (!s) {
    fill(who);
    document.getElementById('nav').hidden = true;
    return;
  }
  document.getElementById('nav').hidden = false;
  document.getElementById('nav-admin').hidden = !can('admin');
  fill(who,
    h('span.refresh-status', { id: 'refresh-status' }, ''),
    h('span.user', { title: 'scopes: ' + s.scopes.join(', ') }, h('span.user-name', s.name),
      s.scopes.map((sc) => h('span.scope', sc))),
    h('button.btn.btn-ghost.btn-small', { id: 'signout', type: 'button', onclick: onSignOut }, 'Sign out'));
}

async function onSignOut() {
  try {
    await signOut();
  } catch (e) {
    /* the session is gone locally either way */
  }
  stopPage();
  renderWho();
  location.hash = '#/signin';
}

function renderSignIn() {
  stopPage();
  renderWho();
  const err = h('p.form-error', { role: 'alert', hidden: true });
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: 'mw_…', required: true });
  const btn = h('button.btn.btn-primary', { type: 'submit', id: 'signin-submit' }, 'Sign in');
  const form = h('form.signin-form', { id: 'signin-form' },
    h('div.field', h('label', { for: 'token' }, 'API token'), input,
      h('small.muted', 'Paste a token made with ', h('code', 'modelwatch token create'), ' or the admin token from ',
        h('code', '<data-dir>/admin.token'), '. It is exchanged for a session cookie and is not kept by the browser.')),
    err, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    btn.disabled = true;
    err.hidden = true;
    try {
      await signIn(input.value.trim());
      const back = sessionStorage.getItem('mw-after-signin');
      sessionStorage.removeItem('mw-after-signin');
      const target = back && back !== '#/signin' ? back : '#/models';
      if (location.hash === target) route();
      else location.hash = target;
    } catch (ex) {
      err.textContent = ex.status === 401 ? 'That token is not valid.' : ex.message;
      err.hidden = false;
      btn.disabled = false;
      input.select();
    }
  });
  fill(root(), h('div.signin',
    h('div.signin-card',
      h('div.signin-brand', h('span.logo'), h('span', 'modelwatch')),
      h('h1', 'Sign in'),
      h('p.muted', 'Model registry, drift and alerts.'),
      form)));
  input.focus();
}

function route() {
  const hash = location.hash || '#/models';
  if (!session()) {
    if (hash !== '#/signin') sessionStorage.setItem('mw-after-signin', hash);
    if (hash !== '#/signin') { location.hash = '#/signin'; return; }
    renderSignIn();
    return;
  }
  if (hash === '#/signin' || hash === '#' || hash === '#/') { location.hash = '#/models'; return; }
  renderWho();
  for (const r of routes) {
    const m = hash.match(r.re);
    if (!m) continue;
    stopPage();
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.nav === r.nav);
    delete document.body.dataset.loaded;
    const el = root();
    el.replaceChildren();
    const inst = r.page.mount(el, r.params(m), { refresh });
    current = { inst, timer: null };
    refresh();
    window.scrollTo(0, 0);
    return;
  }
  stopPage();
  fill(root(), h('section.card', h('h2', 'Not found'), h('p', 'No page at ', h('code', hash), '. ', h('a', { href: '#/models' }, 'Go to the models.'))));
}

async function start() {
  setUnauthenticatedHandler(() => {
    toast('Your session ended; sign in again.', 'error');
    stopPage();
    location.hash = '#/signin';
    renderSignIn();
  });
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') refresh(); });
  window.addEventListener('hashchange', route);
  try {
    await loadSession();
  } catch (e) {
    toast('Cannot reach the server: ' + e.message, 'error');
  }
  route();
}

start();
