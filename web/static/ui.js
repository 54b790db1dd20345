// ui.js - toasts and modal dialogs shared by the pages.

import { h } from './dom.js';

export function toast(message, kind = 'ok') {
  const box = document.getElementById('toasts');
  const t = h('div.toast', { class: 'toast-' + kind, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.appendChild(t);
  setTimeout(() => t.classList.add('toast-out'), 4500);
  setTimeout(() => t.remove(), 5000);
}

// Opens a modal dialog. fields: [{name, label, type: 'text'|'textarea'|
// 'select', options?: [[value, label]], required?, placeholder?, value?}].
// Resolves with {name: value} when confirmed, null when cancelled. While
// `submit(values)` (optional) runs, the dialog stays open and shows its
// error if it throws.
export function dialog({ title, intro, fields = [], confirm = 'Confirm', danger = false, submit, id }) {
  return new Promise((resolve) => {
    const inputs = {};
    const err = h('p.form-error', { role: 'alert', hidden: true });
    const rows = fields.map((f) => {
      let input;
      const common = { name: f.name, id: 'dlg-' + f.name, required: f.required, placeholder: f.placeholder };
      if (f.type === 'textarea') input = h('textarea', { ...common, rows: 3 }, f.value || '');
      else if (f.type === 'select') {
        input = h('select', common, (f.options || []).map(([v, l]) => h('option', { value: v, selected: v === f.value }, l)));
      } else input = h('input', { ...common, type: f.type || 'text', value: f.value || '' });
      inputs[f.name] = input;
      return h('div.field', h('label', { for: 'dlg-' + f.name }, f.label), input, f.help ? h('small.muted', f.help) : null);
    });
    const ok = h('button.btn', { type: 'submit', class: danger ? 'btn-danger' : 'btn-primary', 'data-action': 'confirm' }, confirm);
    const cancel = h('button.btn.btn-ghost', { type: 'button', 'data-action': 'cancel' }, 'Cancel');
    const form = h('form', { method: 'dialog', novalidate: true },
      h('h2', title),
      intro ? h('div.dialog-intro', intro) : null,
      rows, err,
      h('div.dialog-actions', cancel, ok));
    const dlg = h('dialog.modal', { id }, form);
    document.body.appendChild(dlg);
    let done = false;
    const finish = (v) => {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    cancel.addEventListener('click', () => finish(null));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); finish(null); });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const values = {};
      for (const [k, el] of Object.entries(inputs)) values[k] = el.value.trim();
      for (const f of fields) {
        if (f.required && !values[f.name]) {
          err.textContent = f.label + ' is required.';
          err.hidden = false;
          inputs[f.name].focus();
          return;
        }
      }
      if (submit) {
        ok.disabled = true;
        try {
          await submit(values);
        } catch (ex) {
          err.textContent = ex.message;
          err.hidden = false;
          ok.disabled = false;
          return;
        }
      }
      finish(values);
    });
    dlg.showModal();
    const first = fields.length ? inputs[fields[0].name] : ok;
    first.focus();
  });
}

// A section card with a title and optional actions on the right.
export function card(title, actions, ...body) {
  return h('section.card',
    h('div.card-head', h('h2', title), actions ? h('div.card-actions', actions) : null),
    ...body);
}
