// Small DOM helpers shared by the pages: element building (never innerHTML with data), status
// badges, times, the status line and the confirmation dialog.

/** Build an element: h('a.link', {href: '#/x'}, 'text', child, [more]). */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const HEALTH = ['Healthy', 'Progressing', 'Degraded', 'Suspended', 'Missing', 'Unknown'];
const SYNC = ['Synced', 'OutOfSync', 'Unknown'];
const PHASE = ['Creating', 'Ready', 'Degraded', 'Deleting'];
export const HEALTH_VALUES = HEALTH;
export const SYNC_VALUES = SYNC;

/** A status as text and colour: the text always says it, the colour only repeats it. */
export function badge(kind, value, label) {
  const v = value || 'Unknown';
  const known = { health: HEALTH, sync: SYNC, phase: PHASE, hook: ['Running', 'Succeeded', 'Failed', 'Error'], op: ['Running', 'Succeeded', 'Failed', 'Error', 'Terminating'] }[kind] || [];
  const cls = known.includes(v) ? `s-${v.toLowerCase()}` : 's-unknown';
  return h(`span.badge.${cls}`, { 'data-kind': kind, title: label ? `${label}: ${v}` : v },
    label ? h('span.visually-hidden', null, `${label}: `) : null, glyph(v), v);
}

function glyph(v) {
  const g = { Healthy: '●', Synced: '●', Ready: '●', Succeeded: '●', Progressing: '◐', Creating: '◐', Running: '◐', Degraded: '✕', Failed: '✕', Error: '✕', OutOfSync: '▲', Missing: '▲', Suspended: '❚❚', Deleting: '−' }[v] || '?';
  return h('span.glyph', { 'aria-hidden': 'true' }, g);
}

/** Healthy and Synced: what it waited for, or why it was unhealthy, no longer matters. */
export function isReady(x) {
  return (x.healthStatus === 'Healthy') && (x.syncStatus === 'Synced');
}

/** First 7 characters of a commit id. */
export function short(rev) {
  return rev ? rev.slice(0, 7) : '—';
}

/** "3m ago" in a <time> with the full date as its title. */
export function ago(iso) {
  if (!iso) return h('span.muted', null, '—');
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return h('span', null, iso);
  return h('time', { datetime: iso, title: new Date(t).toLocaleString() }, relative(t));
}

export function relative(t) {
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** Say something in the status line (announced by screen readers). */
export function say(text, kind = 'info') {
  const el = document.getElementById('status');
  el.className = `status ${kind}`;
  el.textContent = text;
  clearTimeout(say.timer);
  if (kind !== 'error') say.timer = setTimeout(() => { el.textContent = ''; el.className = 'status'; }, 8000);
}

/** Ask before an action: resolves true when confirmed. `body` is a node (a form part) or text. */
export function confirmDialog(title, body, okLabel) {
  const dlg = document.getElementById('confirm');
  replace(document.getElementById('confirm-title'), title);
  replace(document.getElementById('confirm-body'), body || '');
  document.getElementById('confirm-ok').textContent = okLabel || 'OK';
  dlg.returnValue = '';
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

/** A labelled form control: label + input/select, linked by id. */
let uid = 0;
export function field(labelText, control, hint) {
  const id = control.id || `f${++uid}`;
  control.id = id;
  return h('div.field', null, h('label', { for: id }, labelText), control, hint ? h('small.muted', null, hint) : null);
}

export function select(name, options, value, all) {
  const el = h('select', { name });
  if (all) el.appendChild(h('option', { value: '' }, all));
  for (const o of options) {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    el.appendChild(h('option', { value: v, selected: v === value }, text));
  }
  el.value = value || '';
  return el;
}

/** An error message in place of content. */
export function errorBox(err) {
  return h('p.error', { role: 'alert' }, err && err.message ? err.message : String(err));
}
