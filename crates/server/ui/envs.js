// Environments: the overview (one card per branch) and one environment's page (its services in
// dependency order and what each waits for). Both follow the change stream.

import { get, del, enc } from './api.js';
import { h, replace, badge, ago, short, say, confirmDialog, errorBox, isReady } from './dom.js';
import { subscribe } from './stream.js';

function counts(map) {
  const parts = Object.entries(map || {}).filter(([, n]) => n > 0);
  if (!parts.length) return null;
  return h('span.counts', null, parts.map(([k, n]) => `${n} ${k}`).join(' · '));
}

function progress(ready, total) {
  return h('span.progress', null,
    h('meter', { min: 0, max: Math.max(total, 1), value: ready, 'aria-label': `${ready} of ${total} applications ready` }),
    h('span', null, `${ready}/${total} ready`));
}

function card(env) {
  return h('li.card', { 'data-env': env.name },
    h('div.card-head', null,
      h('h2', null, h('a', { href: `#/environments/${enc(env.name)}` }, env.name)),
      badge('phase', env.phase, 'Phase')),
    h('dl.facts', null,
      h('dt', null, 'Branch'), h('dd', null, h('code', null, env.branch || '—')),
      h('dt', null, 'Applications'), h('dd', null, progress(env.ready, env.total)),
      h('dt', null, 'Age'), h('dd', null, ago(env.createdAt)),
      h('dt', null, 'Last activity'), h('dd', null, ago(env.lastActivity))),
    h('p.muted', null, counts(env.health), env.sync && Object.keys(env.sync).length ? ' · ' : '', counts(env.sync)),
    h('table.services', null,
      h('caption.visually-hidden', null, `Services of ${env.name}`),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Service'), h('th', { scope: 'col' }, 'Commit'), h('th', { scope: 'col' }, 'Status'))),
      h('tbody', null, (env.services || []).map((s) => h('tr', { 'data-service': s.name },
        h('th', { scope: 'row' }, h('a', { href: `#/applications/${enc(s.application)}` }, s.name)),
        h('td', null, h('code', { title: s.revision || 'not deployed yet' }, short(s.revision)), s.hasBranch ? h('span.tag', { title: `deploys branch ${env.branch}` }, 'branch') : null),
        h('td', null, s.waitingFor && !isReady(s) ? h('span.muted', null, s.waitingFor) : [badge('health', s.healthStatus), ' ', badge('sync', s.syncStatus)]))))),
    env.conditions && env.conditions.length ? h('ul.conditions', null, env.conditions.map((c) => h('li', null, c))) : null);
}

export async function environmentsPage(page) {
  document.title = 'Environments · Trellis';
  const list = h('ul.cards', { 'aria-label': 'Environments' });
  const summary = h('p.muted', { 'aria-live': 'polite' }, 'Loading…');
  replace(page.main, h('div.page-head', null, h('h1', null, 'Environments'), summary), list);
  const envs = new Map();
  const draw = () => {
    const items = [...envs.values()].sort((a, b) => a.name.localeCompare(b.name));
    summary.textContent = items.length
      ? `${items.length} environment${items.length === 1 ? '' : 's'}, ${items.filter((e) => e.phase === 'Ready').length} ready`
      : 'No environments yet: push a branch to a repository of an EnvironmentSet.';
    replace(list, items.map(card));
  };
  const load = async () => {
    try {
      const res = await get('environments', null, page.signal);
      envs.clear();
      for (const e of res.items) envs.set(e.name, e);
      draw();
    } catch (e) {
      if (e.name !== 'AbortError') replace(list, h('li', null, errorBox(e)));
    }
  };
  await load();
  let pending = false;
  subscribe({}, (msg) => {
    if (msg.kind !== 'environment') return;
    if (msg.action === 'delete') envs.delete(msg.name);
    else if (msg.env) envs.set(msg.name, msg.env);
    // Coalesce bursts into one redraw per frame.
    if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); }
  }, page.signal, load);
}

export async function environmentPage(page, name) {
  document.title = `${name} · Environments · Trellis`;
  const head = h('div.page-head');
  const body = h('div');
  replace(page.main, h('nav.crumbs', { 'aria-label': 'Breadcrumb' }, h('a', { href: '#/environments' }, 'Environments'), ' / ', name), head, body);
  const draw = (env) => {
    replace(head,
      h('h1', null, `Environment ${env.name}`),
      h('div.badges', { 'aria-live': 'polite' }, badge('phase', env.phase, 'Phase'), ' ', progress(env.ready, env.total)),
      h('div.actions', null,
        h('a.button.secondary', { href: `#/applications?environment=${enc(env.name)}` }, 'Its applications'),
        h('button.danger', { type: 'button', disabled: page.role !== 'admin', title: page.role !== 'admin' ? 'Only an admin may delete an environment' : null, onclick: () => remove(env) }, 'Delete environment')));
    replace(body,
      h('dl.facts.wide', null,
        h('dt', null, 'Branch'), h('dd', null, h('code', null, env.branch)),
        h('dt', null, 'Namespace'), h('dd', null, h('code', null, env.namespace)),
        h('dt', null, 'EnvironmentSet'), h('dd', null, env.environmentSet),
        h('dt', null, 'Created'), h('dd', null, ago(env.createdAt)),
        h('dt', null, 'Last activity'), h('dd', null, ago(env.lastActivity))),
      env.conditions && env.conditions.length ? [h('h2', null, 'Conditions'), h('ul.conditions', null, env.conditions.map((c) => h('li', null, c)))] : null,
      h('h2', null, 'Services in dependency order'),
      h('table.grid', { 'aria-label': 'Services in dependency order' },
        h('thead', null, h('tr', null, ['#', 'Service', 'Depends on', 'Deploys', 'Commit', 'Sync', 'Health', 'Waiting for'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, (env.services || []).map((s, i) => h('tr', { 'data-service': s.name },
          h('td', null, String(i + 1)),
          h('th', { scope: 'row' }, h('a', { href: `#/applications/${enc(s.application)}` }, s.name)),
          h('td', null, (s.dependsOn || []).join(', ') || h('span.muted', null, 'nothing')),
          h('td', null, h('code', null, s.targetRevision), s.hasBranch ? '' : h('span.muted', null, ' (no branch of its own)')),
          h('td', null, h('code', { title: s.revision }, short(s.revision))),
          h('td', null, badge('sync', s.syncStatus)),
          h('td', null, badge('health', s.healthStatus)),
          h('td.waiting', null, (!isReady(s) && s.waitingFor) || h('span.muted', null, '—')))))));
  };
  const remove = async (env) => {
    const ok = await confirmDialog(`Delete environment ${env.name}?`,
      h('p', null, `Its ${env.total} applications and namespace ${env.namespace} are removed. The branch is left alone; a new push to it creates the environment again.`), 'Delete');
    if (!ok) return;
    try {
      const r = await del(`environments/${enc(env.name)}`);
      say(r.message || `Deleting environment ${env.name}`);
    } catch (e) { say(e.message, 'error'); }
  };
  const load = async () => {
    try {
      draw(await get(`environments/${enc(name)}`, null, page.signal));
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(head, h('h1', null, `Environment ${name}`));
      replace(body, errorBox(e));
    }
  };
  await load();
  subscribe({ environment: name }, (msg) => {
    if (msg.kind !== 'environment' || msg.name !== name) return;
    if (msg.action === 'delete') { say(`Environment ${name} was deleted`); replace(body, h('p', null, 'This environment no longer exists.')); return; }
    if (msg.env) draw(msg.env);
  }, page.signal, load);
}
