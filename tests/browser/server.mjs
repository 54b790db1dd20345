// server.mjs - starts the real modelwatch binary for the browser tests on a
// free loopback port with a fresh data directory, and talks to its API.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Servers still running when this process ends (a failure, ctest's timeout
// sending SIGTERM) are killed with it rather than left behind.
const running = new Set();
const dirs = new Set();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
  if (!process.env.MW_KEEP_DATA) for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(1));

export async function startServer({ bin, args = [] }) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mwbrowser-'));
  dirs.add(dataDir);
  const port = await freePort();
  const base = 'http://127.0.0.1:' + port;
  const logPath = path.join(dataDir, 'server.log');
  const log = fs.openSync(logPath, 'a');
  const proc = spawn(bin, ['serve', '--listen', '127.0.0.1:' + port, '--data-dir', dataDir, ...args],
    { stdio: ['ignore', log, log] });
  let exited = null;
  running.add(proc);
  proc.on('exit', (code, sig) => { exited = { code, sig }; running.delete(proc); });
  const deadline = Date.now() + 30000;
  for (;;) {
    if (exited) throw new Error('modelwatch exited (' + JSON.stringify(exited) + '):\n' + fs.readFileSync(logPath, 'utf8'));
    if (Date.now() > deadline) throw new Error('modelwatch did not become healthy');
    try {
      const r = await fetch(base + '/healthz');
      if (r.status === 200) break;
    } catch (e) { /* not listening yet */ }
    await sleep(50);
  }
  const token = fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  const srv = {
    base, port, token, dataDir, logPath, proc,
    // JSON API call with the admin token; throws on an unexpected status.
    async api(method, p, body, { expect, raw, headers } = {}) {
      const h = { Authorization: 'Bearer ' + token, ...(headers || {}) };
      let data;
      if (raw !== undefined) data = raw;
      else if (body !== undefined) { data = JSON.stringify(body); h['Content-Type'] = 'application/json'; }
      const r = await fetch(base + p, { method, headers: h, body: data });
      const text = await r.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
      const ok = expect ? [].concat(expect).includes(r.status) : r.status < 300;
      if (!ok) throw new Error(method + ' ' + p + ' -> ' + r.status + ' ' + text.slice(0, 500));
      return json;
    },
    logText() { return fs.readFileSync(logPath, 'utf8'); },
    async stop() {
      if (exited) return exited;
      proc.kill('SIGTERM');
      const t = Date.now();
      while (!exited && Date.now() - t < 20000) await sleep(50);
      if (!exited) { proc.kill('SIGKILL'); await sleep(100); }
      return exited;
    },
    cleanup() { fs.rmSync(dataDir, { recursive: true, force: true }); dirs.delete(dataDir); },
  };
  return srv;
}
