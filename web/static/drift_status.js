// drift_status.js - the latest stored dataset drift of the version an
// operator cares about most (the one `production` points to, else the first
// alias, else the latest version), cached for a while so the models page
// can poll without re-reading every time series every few seconds.

import { api, path, isoAgo } from './api.js';

const TTL_MS = 15000;
const DEFAULT_SHARE = 0.5;   // the server's default (docs/drift.md), when the version's config is unreadable
const cache = new Map();     // "model/version" -> {at, value}

export function primaryVersion(m) {
  const aliases = m.aliases || {};
  if (aliases.production) return aliases.production;
  const first = Object.keys(aliases).sort()[0];
  return first ? aliases[first] : m.latest_version;
}

// -> {version, state: 'ok'|'drifting'|'none', share, at, title} or null
// when the model has no version or the monitor cannot answer.
export async function driftStatus(m) {
  const v = primaryVersion(m);
  if (!v) return null;
  const key = m.name + '/' + v;
  const hit = cache.get(key);
  if (hit && Date.now() - hit.at < TTL_MS) return hit.value;
  let value = null;
  try {
    const [r, cfg] = await Promise.all([
      api.get(path(['models', m.name, 'versions', v, 'drift', 'history'], { metric: 'drift_share', from: isoAgo(7 * 86400) })),
      api.get(path(['models', m.name, 'versions', v, 'drift', 'config'])).catch(() => null),
    ]);
    const share = cfg && typeof cfg.drift_share === 'number' ? cfg.drift_share : DEFAULT_SHARE;
    const pts = (r && r.points) || [];
    const last = pts[pts.length - 1];
    if (!last || typeof last.value !== 'number') {
      value = { version: v, state: 'none', title: 'no drift evaluation of v' + v + ' in the last 7 days' };
    } else {
      const drifted = typeof last.drifted === 'boolean' ? last.drifted : last.value >= share;
      value = {
        version: v, state: drifted ? 'drifting' : 'ok', share: last.value, at: last.at,
        title: 'dataset drift share of v' + v + ' at ' + last.at,
      };
    }
  } catch (e) {
    value = null;
  }
  cache.set(key, { at: Date.now(), value });
  return value;
}
