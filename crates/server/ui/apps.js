// The applications list: the API's filters, instant (debounced, server-side) search, one page at
// a time with the `continue` token. Only the page is ever in the DOM, so 10,000 applications cost
// what 100 do. Rows on the page follow the change stream in place.

import { get, enc } from './api.js';
import { h, replace, badge, short, field, select, errorBox, isReady, HEALTH_VALUES, SYNC_VALUES } from './dom.js';
import { subscribe } from './stream.js';

const FILTERS = ['environment', 'project', 'health', 'sync', 'search'];
const LIMITS = ['50', '100', '200', '500'];

function row(a) {
  return h('tr', { 'data-app': a.name },
    h('th', { scope: 'row' }, h('a', { href: `#/applications/${enc(a.name)}` }, a.name)),
    h('td', null, a.environment ? h('a', { href: `#/environments/${enc(a.environment)}` }, a.environment) : h('span.muted', null, '—')),
    h('td', null, a.service || '—'),
    h('td', null, a.project),
    h('td', null, badge('sync', a.syncStatus)),
    h('td', null, badge('health', a.healthStatus)),
    h('td', null, h('code', { title: a.revision }, short(a.revision))),
    h('td.msg', null, (!isReady(a) && (a.waitingFor || a.healthMessage)) || (a.operationPhase && a.operationPhase !== 'Succeeded' ? `operation ${a.operationPhase}` : '')));
}

export async function applicationsPage(page) {
  document.title = 'Applications · Trellis';
  const p = page.params;
  const state = {
    environment: p.get('environment') || '',
    project: p.get('project') || '',
    health: p.get('health') || '',
    sync: p.get('sync') || '',
    search: p.get('search') || '',
    limit: LIMITS.includes(p.get('limit')) ? p.get('limit') : '100',
  };
  // Tokens of the pages before this one (for "Previous"), and of this one.
  let pages = [''];

  const envSelect = select('environment', state.environment ? [state.environment] : [], state.environment, 'All environments');
  const project = h('input', { name: 'project', type: 'text', value: state.project, autocomplete: 'off', list: 'projects' });
  const health = select('health', HEALTH_VALUES, state.health, 'Any health');
  const sync = select('sync', SYNC_VALUES, state.sync, 'Any sync status');
  const search = h('input', { name: 'search', type: 'search', value: state.search, autocomplete: 'off', placeholder: 'name, service, environment…' });
  const limit = select('limit', LIMITS, state.limit);
  const projects = h('datalist', { id: 'projects' });
  const clear = h('button.secondary', { type: 'reset' }, 'Clear filters');
  const form = h('form.filters', { role: 'search', 'aria-label': 'Filter applications' },
    field('Search', search), field('Environment', envSelect), field('Project', project), field('Health', health), field('Sync', sync), field('Per page', limit), projects,
    h('div.field.end', null, clear));

  const count = h('p.count', { 'aria-live': 'polite', id: 'app-count' }, 'Loading…');
  const tbody = h('tbody');
  const table = h('table.grid.apps', { 'aria-describedby': 'app-count', 'aria-busy': 'true' },
    h('caption.visually-hidden', null, 'Applications'),
    h('thead', null, h('tr', null, ['Name', 'Environment', 'Service', 'Project', 'Sync', 'Health', 'Commit', 'Message'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const prev = h('button.secondary', { type: 'button', disabled: true }, '← Previous page');
  const next = h('button.secondary', { type: 'button', disabled: true }, 'Next page →');
  const pager = h('nav.pager', { 'aria-label': 'Pages' }, prev, next);
  replace(page.main, h('div.page-head', null, h('h1', null, 'Applications')), form, count, h('div.table-wrap', null, table), pager);

  // Fill the environment choices (the list is small: one per branch).
  get('environments', null, page.signal).then((res) => {
    const names = res.items.map((e) => e.name);
    if (state.environment && !names.includes(state.environment)) names.push(state.environment);
    const current = envSelect.value;
    replace(envSelect, h('option', { value: '' }, 'All environments'), names.map((n) => h('option', { value: n }, n)));
    envSelect.value = current;
  }).catch(() => {});

  let seq = 0;
  let inflight = null;
  const rows = new Map();
  let stream = null;

  const writeUrl = () => {
    const q = new URLSearchParams();
    for (const k of FILTERS) if (state[k]) q.set(k, state[k]);
    if (state.limit !== '100') q.set('limit', state.limit);
    const s = q.toString();
    // replaceState: filtering is not navigation, and it must not re-render the page.
    history.replaceState(null, '', `#/applications${s ? `?${s}` : ''}`);
  };

  const load = async () => {
    const mine = ++seq;
    if (inflight) inflight.abort();
    inflight = new AbortController();
    page.signal.addEventListener('abort', () => inflight && inflight.abort(), { once: true });
    const token = pages[pages.length - 1];
    const params = { environment: state.environment, project: state.project, health: state.health, sync: state.sync, search: state.search, limit: state.limit, continue: token };
    table.setAttribute('aria-busy', 'true');
    const t0 = performance.now();
    let res;
    try {
      res = await get('applications', params, inflight.signal);
    } catch (e) {
      if (e.name === 'AbortError' || mine !== seq) return;
      table.setAttribute('aria-busy', 'false');
      count.textContent = '';
      replace(tbody, h('tr', null, h('td', { colspan: 8 }, errorBox(e))));
      return;
    }
    if (mine !== seq) return;
    rows.clear();
    const frag = document.createDocumentFragment();
    const seen = new Set();
    for (const a of res.items) {
      const tr = row(a);
      rows.set(a.name, tr);
      frag.appendChild(tr);
      if (a.project) seen.add(a.project);
    }
    tbody.replaceChildren(frag);
    if (!res.items.length) tbody.appendChild(h('tr', null, h('td.muted', { colspan: 8 }, 'No application matches these filters.')));
    for (const pr of seen) if (!projects.querySelector(`option[value="${CSS.escape(pr)}"]`)) projects.appendChild(h('option', { value: pr }));
    const first = (pages.length - 1) * Number(state.limit);
    count.textContent = res.total
      ? `Showing ${first + 1}–${first + res.items.length} of ${res.total.toLocaleString('en')} applications`
      : 'No applications';
    table.setAttribute('aria-busy', 'false');
    table.dataset.loadMs = String(Math.round(performance.now() - t0));
    prev.disabled = pages.length <= 1;
    next.disabled = !res.continue;
    next.dataset.token = res.continue || '';
    follow();
  };

  // Follow changes of the rows shown; filtering by the stream's environment when there is one.
  let followed = null;
  const follow = () => {
    const key = state.environment;
    if (followed === key && stream) return;
    if (stream) stream.abort();
    stream = new AbortController();
    page.signal.addEventListener('abort', () => stream.abort(), { once: true });
    followed = key;
    subscribe(key ? { environment: key } : {}, (msg) => {
      if (msg.kind !== 'application') return;
      const tr = rows.get(msg.name);
      if (!tr) return;
      if (msg.action === 'delete') { tr.classList.add('deleted'); tr.title = 'deleted'; return; }
      if (msg.application) {
        const fresh = row(msg.application);
        tr.replaceWith(fresh);
        rows.set(msg.name, fresh);
      }
    }, stream.signal);
  };

  const restart = () => { pages = ['']; writeUrl(); load(); };
  let timer = 0;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.search = search.value.trim(); restart(); }, 150);
  });
  project.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.project = project.value.trim(); restart(); }, 250);
  });
  for (const [el, key] of [[envSelect, 'environment'], [health, 'health'], [sync, 'sync'], [limit, 'limit']]) {
    el.addEventListener('change', () => { state[key] = el.value; restart(); });
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); clearTimeout(timer); state.search = search.value.trim(); state.project = project.value.trim(); restart(); });
  form.addEventListener('reset', (e) => {
    e.preventDefault();
    for (const k of FILTERS) state[k] = '';
    search.value = ''; project.value = ''; envSelect.value = ''; health.value = ''; sync.value = '';
    restart();
    search.focus();
  });
  next.addEventListener('click', () => { if (next.dataset.token) { pages.push(next.dataset.token); load().then(() => table.scrollIntoView({ block: 'start' })); } });
  prev.addEventListener('click', () => { if (pages.length > 1) { pages.pop(); load(); } });

  await load();
}
