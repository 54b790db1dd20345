// page_model.js - #/models/<name>: versions with their approval (approve or
// reject with a comment), aliases with their history as a timeline and
// protected ones marked, promotion (compare-and-swap on the version shown),
// rollback with a reason, the model's rollouts (a running or paused one
// first and highlighted, each linking to its page), and the serving nodes
// with desired vs reported version. A move the server would refuse is not offered: an unapproved
// version to a protected alias, a rollback a protected alias would refuse,
// a decision on a version the signed-in token created.

import { h, fill, badge, stateKind, timeEl, fmtBytes, fmtNum, versionChip, empty, table } from './dom.js';
import { api, path, can, session } from './api.js';
import { card, dialog, toast } from './ui.js';
import { rolloutStateKind, rolloutProgress } from './page_rollout.js';

export function mount(root, { model }, ctx) {
  const name = model;
  let last = { model: null, versions: [], histories: {}, protectedAliases: {}, rollouts: [] };

  // ---- skeleton (built once; refresh() fills the parts) ----
  const title = h('h1', name);
  const desc = h('p.muted.model-desc');
  const tags = h('div.chips');
  const aliasesBox = h('div.aliases', { id: 'aliases' });
  const { table: vtable, body: vbody } = table(['Version', 'Status', 'Approval', 'Aliases', 'SHA-256', 'Size', 'Metrics', 'Created', ''], 'versions-table');
  vtable.id = 'versions-table';
  const { table: ntable, body: nbody } = table(['Node', 'Alias', 'Desired', 'Reported', 'State', 'Last report', ''], 'nodes-table');
  ntable.id = 'nodes-table';
  const { table: rtable, body: rbody } = table(['Rollout', 'State', 'Alias', 'Baseline → candidate', 'Progress', 'Mode', 'Started', 'Ended', ''], 'rollouts-table');
  rtable.id = 'rollouts-table';
  const rolloutsNote = h('p.muted.small', { hidden: true });

  let promoteVersion, promoteAlias, promoteCurrent, aliasList;
  const promoteCard = can('promote') ? buildPromote() : null;

  fill(root,
    h('nav.crumbs', h('a', { href: '#/models' }, 'Models'), h('span', '/'), h('span', name)),
    h('div.page-head', h('div', title, desc, tags)),
    h('div.grid-2',
      card('Aliases', null, aliasesBox),
      promoteCard || card('Promote', null, h('p.muted', 'Your token has no promote scope: aliases are read-only here.'))),
    card('Rollouts', null, h('div.table-wrap', rtable), rolloutsNote),
    card('Versions', null, h('div.table-wrap', vtable)),
    card('Serving nodes', null, h('div.table-wrap', ntable),
      h('p.muted.small', 'Desired is the version the node\'s alias points to; reported is what the node last said it loaded. Rows where they differ are highlighted.')));

  // ---- promote form ----
  function buildPromote() {
    promoteVersion = h('select', { id: 'promote-version', name: 'version' });
    aliasList = h('datalist', { id: 'alias-names' });
    promoteAlias = h('input', { id: 'promote-alias', name: 'alias', list: 'alias-names', value: 'production', autocomplete: 'off', required: true, oninput: () => showCurrent() });
    promoteCurrent = h('p.muted.small', { id: 'promote-current' });
    const form = h('form.promote-form', { id: 'promote-form' },
      h('div.form-row',
        h('div.field', h('label', { for: 'promote-version' }, 'Version'), promoteVersion),
        h('span.arrow', '→'),
        h('div.field', h('label', { for: 'promote-alias' }, 'Alias'), promoteAlias, aliasList)),
      promoteCurrent,
      h('button.btn.btn-primary', { type: 'submit', id: 'promote-submit' }, 'Promote…'));
    form.addEventListener('submit', (e) => { e.preventDefault(); promote(); });
    return card('Promote', null, form,
      h('p.muted.small', 'The move is a compare-and-swap on the version shown above: if someone moved the alias since this page loaded, the promotion is refused and nothing changes.'));
  }

  function showCurrent() {
    if (!promoteCurrent || !last.model) return;
    const a = promoteAlias.value.trim();
    const cur = (last.model.aliases || {})[a];
    promoteCurrent.dataset.expected = cur === undefined ? 'null' : String(cur);
    promoteCurrent.textContent = !a ? '' : (cur === undefined
      ? 'Alias "' + a + '" does not exist yet; it will be created.'
      : 'Currently: ' + a + ' → v' + cur + '.') +
      (guarded(a) ? ' ' + a + ' is protected: only approved versions can go there.' : '');
    const ro = activeRollout(a);
    if (ro) promoteCurrent.textContent += ' Rollout #' + ro.id + ' (' + ro.state + ', v' + ro.baseline_version + ' → v' + ro.candidate_version +
      ') is on ' + a + ': a move by hand makes it abort when it would promote.';
    // Versions the alias would refuse are not offered.
    if (promoteVersion) {
      for (const o of promoteVersion.options) {
        const v = last.versions.find((x) => String(x.version) === o.value);
        o.disabled = !!v && !movable(a, v.version);
      }
      if (promoteVersion.selectedOptions[0] && promoteVersion.selectedOptions[0].disabled) {
        const ok = [...promoteVersion.options].find((o) => !o.disabled);
        if (ok) promoteVersion.value = ok.value;
      }
    }
  }

  // The alias is protected and requires approval.
  function guarded(alias) {
    const p = last.protectedAliases[alias];
    return !!(p && p.require_approval);
  }

  function approvalOf(version) {
    const v = last.versions.find((x) => x.version === version);
    return v && v.approval ? v.approval.state : 'none';
  }

  // Whether the server would let the alias move to version (by hand).
  function movable(alias, version) {
    return !guarded(alias) || approvalOf(version) === 'approved';
  }

  // Whether a rollback of alias to version would go through: also when the
  // version was approved while it held the alias (the emergency exception).
  function rollbackAllowed(alias, version) {
    return movable(alias, version) ||
      (last.histories[alias] || []).some((e) => e.version === version && e.approved);
  }

  // A decision on v is offered to promote tokens other than its creator's
  // (unless the server lets creators decide).
  function mayDecide(v) {
    const s = session();
    if (!can('promote') || v.status !== 'ready' || !s) return false;
    return s.allow_self_approval || v.created_by !== 'token:' + s.name;
  }

  async function decide(v, decision) {
    const approve = decision === 'approved';
    const r = await dialog({
      id: 'approval-dialog',
      title: (approve ? 'Approve' : 'Reject') + ' v' + v.version,
      intro: [h('p', approve
        ? 'Records your approval of v' + v.version + ' (created by ' + v.created_by + '). Protected aliases accept only approved versions.'
        : 'Records that v' + v.version + ' is rejected: protected aliases will refuse it.')],
      fields: [{ name: 'comment', label: approve ? 'Comment (optional)' : 'Why', type: 'textarea', required: !approve, placeholder: approve ? 'what you checked' : 'what is wrong' }],
      confirm: approve ? 'Approve' : 'Reject',
      danger: !approve,
      submit: (f) => api.post(path(['models', name, 'versions', String(v.version), 'approval']), { decision, comment: f.comment || undefined }),
    });
    if (r) {
      toast('v' + v.version + (approve ? ' approved' : ' rejected'));
      await ctx.refresh();
    }
  }

  async function promote(presetVersion) {
    if (presetVersion) promoteVersion.value = String(presetVersion);
    const alias = promoteAlias.value.trim();
    const version = Number(promoteVersion.value);
    if (!alias || !version) { toast('Choose a version and an alias.', 'error'); return; }
    if (!movable(alias, version)) { toast(alias + ' is protected: v' + version + ' is not approved.', 'error'); return; }
    const exp = promoteCurrent.dataset.expected;
    const expected = exp === 'null' || exp === undefined ? null : Number(exp);
    if (expected === version) { toast(alias + ' already points to v' + version + '.', 'warn'); return; }
    const r = await dialog({
      id: 'promote-dialog',
      title: 'Promote v' + version + ' to ' + alias,
      intro: [h('p', expected === null
        ? 'Creates the alias ' + alias + ' pointing to v' + version + '.'
        : 'Moves ' + alias + ' from v' + expected + ' to v' + version + '. Every serving node of ' + name + ' is told to load it.')],
      fields: [{ name: 'reason', label: 'Reason (optional)', type: 'textarea', placeholder: 'why this version' }],
      confirm: 'Promote',
      submit: async (v) => {
        try {
          await api.put(path(['models', name, 'aliases', alias]), { version, expected_version: expected, reason: v.reason || undefined });
        } catch (e) {
          if (e.status === 409) {
            ctx.refresh();
            throw new Error('Refused: ' + alias + ' no longer points to ' + (expected === null ? 'nothing' : 'v' + expected) + ' (someone moved it). The page now shows the new state; check and try again.');
          }
          throw e;
        }
      },
    });
    if (r) {
      toast(alias + ' → v' + version);
      await ctx.refresh();
    }
  }

  async function rollback(alias) {
    const cur = (last.model.aliases || {})[alias];
    const prev = rollbackTarget(last.histories[alias] || []);
    const r = await dialog({
      id: 'rollback-dialog',
      title: 'Roll back ' + alias,
      intro: [h('p', 'Moves ', h('strong', alias), ' from v' + cur + ' back to ' + (prev ? 'v' + prev : 'the version it held before') + '. Every serving node of ' + name + ' is told to load it.')],
      fields: [{ name: 'reason', label: 'Reason', type: 'textarea', required: true, placeholder: 'what went wrong' }],
      confirm: 'Roll back',
      danger: true,
      submit: (v) => api.post(path(['models', name, 'aliases', alias, 'rollback']), { reason: v.reason }),
    });
    if (r) {
      toast(alias + ' rolled back');
      await ctx.refresh();
    }
  }

  // ---- rendering ----
  function renderAliases(m) {
    const aliases = Object.entries(m.aliases || {});
    if (!aliases.length) {
      fill(aliasesBox, h('p.muted', 'No aliases yet.' + (can('promote') ? ' Promote a ready version to create one.' : '')));
      return;
    }
    fill(aliasesBox, aliases.map(([a, v]) => {
      const hist = last.histories[a] || [];
      const target = rollbackTarget(hist);
      const canRollback = can('promote') && target !== null && rollbackAllowed(a, target);
      return h('div.alias-block', { dataset: { alias: a } },
        h('div.alias-head',
          h('span.alias-title', a), h('span.arrow', '→'), h('span.vchip.vchip-lg', { dataset: { role: 'alias-version' } }, 'v' + v),
          guarded(a) ? h('span.badge.badge-warn', { dataset: { role: 'protected' }, title: 'only approved versions can be moved here' }, 'protected') : null,
          rolloutChip(activeRollout(a)),
          h('span.spacer'),
          canRollback ? h('button.btn.btn-small.btn-danger-ghost', {
            type: 'button', dataset: { action: 'rollback', alias: a }, onclick: () => rollback(a),
            title: 'move ' + a + ' back to v' + target,
          }, 'Roll back to v' + target) : null),
        hist.length ? h('ol.timeline', hist.slice(0, 12).map((e) => h('li', { class: 'tl-' + e.kind },
          h('div.tl-line',
            h('span.tl-kind', e.kind),
            e.previous_version ? [versionChip(e.previous_version), h('span.arrow', '→')] : null,
            e.version === null ? h('span.muted', 'deleted') : versionChip(e.version),
            h('span.spacer'),
            timeEl(e.at)),
          h('div.tl-meta', h('span.actor', e.actor), e.reason ? [h('span.sep', '·'), h('span.reason', e.reason)] : null))))
          : h('p.muted.small', 'No history.'),
        hist.length > 12 ? h('p.muted.small', (hist.length - 12) + ' older moves not shown.') : null);
    }));
  }

  function renderVersions(versions) {
    if (!versions.length) {
      fill(vbody, empty('No versions yet.', 9));
      return;
    }
    fill(vbody, versions.map((v) => h('tr', { dataset: { version: v.version } },
      h('td', h('strong', 'v' + v.version), v.description ? h('div.muted.small', v.description) : null),
      h('td', badge(v.status, stateKind(v.status))),
      h('td.approval', { dataset: { approval: v.approval ? v.approval.state : 'none' } }, approvalCell(v.approval)),
      h('td', v.aliases && v.aliases.length ? h('div.chips', v.aliases.map((a) => h('span.alias-chip', h('span.alias-name', a)))) : h('span.muted', '—')),
      h('td', v.sha256 ? h('code.sha', { title: v.sha256 }, v.sha256.slice(0, 12) + '…') : h('span.muted', 'no artifact')),
      h('td.num', fmtBytes(v.size)),
      h('td', metricsList(v.metrics)),
      h('td', timeEl(v.created_at), h('div.muted.small', v.created_by)),
      h('td.actions',
        h('a.btn.btn-small.btn-ghost', { href: '#/models/' + encodeURIComponent(name) + '/versions/' + v.version + '/drift' }, 'Drift'),
        mayDecide(v) && (!v.approval || v.approval.state !== 'approved') ? h('button.btn.btn-small', {
          type: 'button', dataset: { action: 'approve', version: v.version }, onclick: () => decide(v, 'approved'),
        }, 'Approve…') : null,
        mayDecide(v) && (!v.approval || v.approval.state !== 'rejected') ? h('button.btn.btn-small.btn-danger-ghost', {
          type: 'button', dataset: { action: 'reject', version: v.version }, onclick: () => decide(v, 'rejected'),
        }, 'Reject…') : null,
        can('promote') && v.status === 'ready' ? h('button.btn.btn-small', {
          type: 'button', dataset: { action: 'promote-version', version: v.version },
          onclick: () => { promoteVersion.value = String(v.version); promoteAlias.focus(); promote(v.version); },
        }, 'Promote…') : null))));
    if (promoteVersion) {
      const keep = promoteVersion.value;
      const ready = versions.filter((v) => v.status === 'ready');
      fill(promoteVersion, ready.map((v) => h('option', { value: v.version }, 'v' + v.version +
        (v.aliases.length ? ' (' + v.aliases.join(', ') + ')' : '') +
        (v.approval && v.approval.state !== 'none' ? ' · ' + v.approval.state : ''))));
      if (!ready.length) promoteVersion.appendChild(h('option', { value: '' }, 'no ready version'));
      if (keep && ready.some((v) => String(v.version) === keep)) promoteVersion.value = keep;
    }
  }

  function rolloutHref(r) {
    return '#/models/' + encodeURIComponent(name) + '/rollouts/' + r.id;
  }

  // The running or paused rollout of alias, if any (one at a time).
  function activeRollout(alias) {
    return last.rollouts.find((r) => r.alias === alias && (r.state === 'running' || r.state === 'paused')) || null;
  }

  function rolloutChip(r) {
    if (!r) return null;
    return h('a.rollout-chip', { href: rolloutHref(r), dataset: { role: 'alias-rollout', rolloutId: r.id }, title: 'rollout #' + r.id + ' (' + r.state + ')' },
      badge(r.mode + ' ' + r.state, rolloutStateKind(r.state)), versionChip(r.candidate_version), h('span.small', ' at ' + r.weight_percent + ' %'));
  }

  // Running first, then paused (both highlighted), then the ended ones,
  // newest first.
  function renderRollouts(list, more) {
    const rank = (r) => (r.state === 'running' ? 0 : r.state === 'paused' ? 1 : 2);
    const rows = list.slice().sort((a, b) => rank(a) - rank(b) || b.id - a.id);
    rolloutsNote.hidden = !more;
    rolloutsNote.textContent = more ? 'Older rollouts are not shown.' : '';
    if (!rows.length) {
      fill(rbody, empty('No rollouts yet. A rollout brings a candidate version onto an alias step by step (POST /api/v1/models/' + name + '/rollouts).', 9));
      return;
    }
    fill(rbody, rows.map((r) => {
      const live = r.state === 'running' || r.state === 'paused';
      return h('tr', { class: live ? 'rollout-active' : null, dataset: { rolloutId: r.id, state: r.state } },
        h('td', h('a.rollout-link', { href: rolloutHref(r) }, h('strong', '#' + r.id))),
        h('td', badge(r.state, rolloutStateKind(r.state)),
          r.reason ? h('div.muted.small.rollout-reason', { title: r.reason }, r.reason.length > 90 ? r.reason.slice(0, 89) + '…' : r.reason) : null),
        h('td', h('span.alias-chip', h('span.alias-name', r.alias))),
        h('td.nowrap', versionChip(r.baseline_version), h('span.arrow', ' → '), versionChip(r.candidate_version)),
        h('td.nowrap.rollout-progress', rolloutProgress(r)),
        h('td', r.mode),
        h('td', timeEl(r.created_at), h('div.muted.small', r.created_by)),
        h('td', r.ended_at ? timeEl(r.ended_at) : h('span.muted', '—')),
        h('td.actions', h('a.btn.btn-small', { href: rolloutHref(r), class: live ? 'btn-primary' : 'btn-ghost' }, live ? 'Follow' : 'View')));
    }));
  }

  function renderNodes(nodes) {
    const rows = [];
    for (const n of nodes) {
      for (const e of n.models || []) {
        if (e.name !== name) continue;
        const differs = e.desired_version !== e.reported_version;
        rows.push(h('tr', { class: differs ? 'out-of-sync' : null, dataset: { node: n.name, alias: e.alias } },
          h('td', h('strong', n.name), h('div.muted.small', n.url)),
          h('td', e.alias),
          h('td.desired', versionChip(e.desired_version)),
          h('td.reported', versionChip(e.reported_version)),
          h('td', e.state ? badge(e.state, stateKind(e.state === 'loaded' || e.state === 'serving' ? 'ok' : e.state)) : h('span.muted', '—')),
          h('td', timeEl(e.reported_at)),
          h('td', differs ? badge('differs', 'warn') : badge('in sync', 'ok'))));
      }
    }
    fill(nbody, rows.length ? rows : empty('No serving node runs this model.', 7));
  }

  async function refresh() {
    let m;
    try {
      m = await api.get(path(['models', name]));
    } catch (e) {
      if (e.status !== 404) throw e;
      fill(root,
        h('nav.crumbs', h('a', { href: '#/models' }, 'Models'), h('span', '/'), h('span', name)),
        card('No such model', null, h('p', e.message + '. ', h('a', { href: '#/models' }, 'Back to the models.'))));
      return;
    }
    const aliasNames = Object.keys(m.aliases || {});
    const [vers, nodes, prot, rolls, ...hists] = await Promise.all([
      api.get(path(['models', name, 'versions'], { limit: 200 })),
      api.get('/api/v1/nodes').catch(() => ({ nodes: [] })),
      api.get(path(['models', name, 'protected-aliases'])).catch(() => ({ protected_aliases: [] })),
      api.get(path(['models', name, 'rollouts'], { limit: 50 })).catch((e) => {
        if (e.status === 401) throw e;
        return { rollouts: [], next_page_token: null };
      }),
      ...aliasNames.map((a) => api.get(path(['models', name, 'aliases', a, 'history'], { limit: 1000 })).catch(() => ({ history: [] }))),
    ]);
    const versions = (vers.versions || []).slice().sort((a, b) => b.version - a.version);
    last = {
      model: m,
      versions,
      histories: Object.fromEntries(aliasNames.map((a, i) => [a, hists[i].history || []])),
      protectedAliases: Object.fromEntries((prot.protected_aliases || []).map((p) => [p.alias, p])),
      rollouts: rolls.rollouts || [],
    };
    desc.textContent = m.description || '';
    fill(tags, Object.entries(m.tags || {}).map(([k, v]) => h('span.tag', k + '=' + (typeof v === 'string' ? v : JSON.stringify(v)))));
    if (aliasList) fill(aliasList, [...new Set([...aliasNames, 'staging', 'production'])].map((a) => h('option', { value: a })));
    renderAliases(m);
    renderRollouts(last.rollouts, !!rolls.next_page_token);
    renderVersions(versions);
    renderNodes(nodes.nodes || []);
    showCurrent();
  }

  return { refresh };
}

// Where a rollback of the alias goes, replaying its history as the server
// does (registry/aliases.c): a set pushes, a rollback pops back to its
// version, a delete empties the stack. null when there is nowhere to go.
export function rollbackTarget(historyNewestFirst) {
  const stack = [];
  for (const e of historyNewestFirst.slice().reverse()) {
    if (e.kind === 'delete') stack.length = 0;
    else if (e.kind === 'rollback') {
      while (stack.length && stack[stack.length - 1] !== e.version) stack.pop();
      if (!stack.length) stack.push(e.version);
    } else stack.push(e.version);
  }
  return stack.length >= 2 ? stack[stack.length - 2] : null;
}

function approvalCell(a) {
  if (!a || a.state === 'none') return h('span.muted', 'undecided');
  return [badge(a.state, a.state === 'approved' ? 'ok' : 'bad'),
    h('div.muted.small', a.by), a.comment ? h('div.small.approval-comment', a.comment) : null];
}

function metricsList(metrics) {
  const e = Object.entries(metrics || {});
  if (!e.length) return h('span.muted', '—');
  return h('div.metrics', e.slice(0, 6).map(([k, v]) => h('span.metric', h('span.metric-k', k), h('span.metric-v', typeof v === 'number' ? fmtNum(v) : JSON.stringify(v)))));
}
