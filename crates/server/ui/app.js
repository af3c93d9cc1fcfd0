// One application: status, actions (Sync, Refresh, Terminate), the live resource tree, and tabs
// for the diff of each out-of-sync object, the history with rollback, events and pod logs. The
// tree follows the change stream: a message about this application refetches its detail.

import { get, post, request, enc, maySync } from './api.js';
import { h, replace, badge, ago, short, say, confirmDialog, field, errorBox, isReady } from './dom.js';
import { subscribe } from './stream.js';

function nodeKey(n) {
  return `${n.group}/${n.kind}/${n.namespace}/${n.name}`;
}

function treeNode(n, actions) {
  const label = `${n.kind} ${n.name}`;
  return h('li', { 'data-kind': n.kind, 'data-name': n.name, 'data-health': n.health || '', 'data-sync': n.sync || '' },
    h('div.node', { class: `node${n.live ? '' : ' absent'}` },
      h('span.kind', null, n.kind),
      h('span.name', null, n.name),
      n.health ? badge('health', n.health, 'Health') : null,
      n.sync ? badge('sync', n.sync, 'Sync') : null,
      n.hook ? h('span.tag', { title: 'hook' }, `hook ${n.syncPhase || ''}`.trim()) : null,
      n.hookPhase ? badge('hook', n.hookPhase, 'Hook') : null,
      n.requiresPruning ? h('span.tag.warn', null, 'prune on next sync') : null,
      n.live ? null : h('span.tag.warn', null, 'not in the cluster'),
      n.healthMessage ? h('span.msg', null, n.healthMessage) : null,
      (n.info || []).length ? h('span.info', null, n.info.join(' · ')) : null,
      n.kind === 'Pod' && n.live ? h('button.small.secondary', { type: 'button', 'aria-label': `Logs of ${label}`, onclick: () => actions.logs(n) }, 'Logs') : null),
    n.children && n.children.length ? h('ul', null, n.children.map((c) => treeNode(c, actions))) : null);
}

function pods(tree, out = []) {
  for (const n of tree || []) {
    if (n.kind === 'Pod') out.push(n);
    pods(n.children, out);
  }
  return out;
}

function diffLines(text) {
  return h('pre.diff', { tabindex: '0' }, text.split('\n').map((l) => {
    const cls = l.startsWith('+++') || l.startsWith('---') ? 'file' : l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : l.startsWith('@@') ? 'hunk' : '';
    return h(cls ? `span.${cls}` : 'span', null, `${l}\n`);
  }));
}

export async function applicationPage(page, name) {
  document.title = `${name} · Applications · Trellis`;
  const head = h('div.page-head');
  const facts = h('div');
  const tree = h('div.tree-wrap', { 'aria-busy': 'true' });
  const tabs = ['Diff', 'History', 'Events', 'Logs'];
  const tabButtons = tabs.map((t, i) => h('button', { type: 'button', role: 'tab', id: `tab-${t}`, 'aria-controls': `panel-${t}`, 'aria-selected': i === 0 ? 'true' : 'false', tabindex: i === 0 ? '0' : '-1' }, t));
  const panels = Object.fromEntries(tabs.map((t, i) => [t, h('section', { role: 'tabpanel', id: `panel-${t}`, 'aria-labelledby': `tab-${t}`, hidden: i !== 0, tabindex: '0' })]));
  const tablist = h('div.tabs', { role: 'tablist', 'aria-label': 'Details' }, tabButtons);
  replace(page.main,
    h('nav.crumbs', { 'aria-label': 'Breadcrumb' }, h('a', { href: '#/applications' }, 'Applications'), ' / ', name),
    head, facts,
    h('section', { 'aria-labelledby': 'tree-title' }, h('h2', { id: 'tree-title' }, 'Resources'), tree),
    tablist, Object.values(panels));

  let app = null;
  let active = 'Diff';
  const logs = { pod: '', abort: null };

  const selectTab = (t, focus) => {
    active = t;
    tabButtons.forEach((b, i) => {
      const on = tabs[i] === t;
      b.setAttribute('aria-selected', on ? 'true' : 'false');
      b.tabIndex = on ? 0 : -1;
      panels[tabs[i]].hidden = !on;
      if (on && focus) b.focus();
    });
    loadTab(t);
  };
  tabButtons.forEach((b, i) => {
    b.addEventListener('click', () => selectTab(tabs[i]));
    b.addEventListener('keydown', (e) => {
      const d = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (d) { e.preventDefault(); selectTab(tabs[(i + d + tabs.length) % tabs.length], true); }
      if (e.key === 'Home') { e.preventDefault(); selectTab(tabs[0], true); }
      if (e.key === 'End') { e.preventDefault(); selectTab(tabs[tabs.length - 1], true); }
    });
  });

  const act = async (what, path, body, label) => {
    try {
      const r = await post(`applications/${enc(name)}/${path}`, body);
      say(r.message || `${label} requested for ${name}`);
    } catch (e) {
      say(`${label} failed: ${e.message}`, 'error');
    }
  };

  const syncDialog = async (resources) => {
    const prune = h('input', { type: 'checkbox', id: 'sync-prune', name: 'prune' });
    const rev = h('input', { type: 'text', id: 'sync-revision', name: 'revision', autocomplete: 'off', placeholder: app.summary.targetRevision, disabled: app.automated });
    const body = [
      resources ? h('p', null, `Only ${resources.map((r) => `${r.kind}/${r.name}`).join(', ')}.`) : h('p', null, `Apply every object of ${name} at ${app.targetRevision}.`),
      h('div.check', null, prune, h('label', { for: 'sync-prune' }, 'Prune: delete objects that are no longer rendered')),
      field('Revision (optional)', rev, app.automated ? 'Automated sync is on: it syncs its target revision only.' : 'A branch, tag or commit instead of the target revision.'),
    ];
    if (!await confirmDialog(`Sync ${name}?`, body, 'Synchronize')) return;
    const req = { prune: prune.checked };
    if (rev.value.trim()) req.revision = rev.value.trim();
    if (resources) req.resources = resources;
    await act('sync', 'sync', req, 'Sync');
  };

  const drawHead = () => {
    const a = app;
    const can = maySync(page.role, a.project);
    const why = can ? null : `Your role (${page.role}) may not change this application`;
    const running = a.operationPhase === 'Running' || a.operationPhase === 'Terminating';
    replace(head,
      h('h1', null, a.name),
      h('div.badges', { 'aria-live': 'polite', 'aria-atomic': 'true', id: 'app-status' },
        badge('sync', a.syncStatus, 'Sync'), ' ', badge('health', a.healthStatus, 'Health'),
        a.operationPhase ? [' ', badge('op', a.operationPhase, 'Operation')] : null,
        a.waitingFor && !isReady(a) ? h('span.msg', null, ` ${a.waitingFor}`) : null),
      h('div.actions', null,
        h('button', { type: 'button', id: 'sync', disabled: !can, title: why, onclick: () => syncDialog(null) }, 'Sync'),
        h('button.secondary', { type: 'button', id: 'refresh', disabled: !can, title: why, onclick: () => act('refresh', 'refresh', {}, 'Refresh') }, 'Refresh'),
        running ? h('button.danger', { type: 'button', id: 'terminate', disabled: !can, title: why, onclick: () => act('terminate', 'terminate', {}, 'Terminate') }, 'Terminate') : null));
  };

  const drawFacts = () => {
    const a = app;
    replace(facts, h('dl.facts.wide', null,
      h('dt', null, 'Environment'), h('dd', null, a.environment ? h('a', { href: `#/environments/${enc(a.environment)}` }, a.environment) : '—'),
      h('dt', null, 'Service'), h('dd', null, a.service || '—'),
      h('dt', null, 'Project'), h('dd', null, a.project),
      h('dt', null, 'Source'), h('dd', null, h('code', null, a.repoURL), ' ', h('code', null, a.path)),
      h('dt', null, 'Target revision'), h('dd', null, h('code', null, a.targetRevision)),
      h('dt', null, 'Deployed commit'), h('dd', null, h('code', { title: a.revision }, short(a.revision))),
      h('dt', null, 'Destination'), h('dd', null, h('code', null, a.destinationNamespace)),
      h('dt', null, 'Automated sync'), h('dd', null, a.automated ? 'on' : 'off'),
      h('dt', null, 'Last compared'), h('dd', null, ago(a.reconciledAt)),
      a.dependsOn && a.dependsOn.length ? [h('dt', null, 'Depends on'), h('dd', null, a.dependsOn.join(', '))] : null,
      a.healthMessage && !isReady(a) ? [h('dt', null, 'Health message'), h('dd', null, a.healthMessage)] : null),
    a.conditions && a.conditions.length ? h('ul.conditions', { 'aria-label': 'Conditions' }, a.conditions.map((c) => h('li', null, c))) : null);
  };

  const treeActions = { logs: (n) => { logs.pod = n.name; selectTab('Logs', true); } };
  const drawTree = () => {
    // Keep keyboard focus on the same Logs button across a redraw.
    const focused = document.activeElement && tree.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
    replace(tree, app.tree && app.tree.length
      ? h('ul.tree', { 'aria-label': `Resources of ${name}` }, app.tree.map((n) => treeNode(n, treeActions)))
      : h('p.muted', null, 'No objects yet.'));
    tree.setAttribute('aria-busy', 'false');
    tree.dataset.updated = String(Date.now());
    if (focused) { const b = tree.querySelector(`[aria-label="${CSS.escape(focused)}"]`); if (b) b.focus(); }
  };

  const loadTab = async (t) => {
    const panel = panels[t];
    if (t === 'Logs') return drawLogs();
    if (!panel.hasChildNodes()) replace(panel, h('p.muted', null, 'Loading…'));
    try {
      if (t === 'Diff') drawDiff(panel, await get(`applications/${enc(name)}/diff`, null, page.signal));
      if (t === 'History') drawHistory(panel, await get(`applications/${enc(name)}/history`, null, page.signal));
      if (t === 'Events') drawEvents(panel, await get(`applications/${enc(name)}/events`, null, page.signal));
    } catch (e) {
      if (e.name !== 'AbortError') replace(panel, errorBox(e));
    }
  };

  let showAll = false;
  const drawDiff = (panel, d) => {
    const out = d.objects.filter((o) => o.status !== 'Synced');
    const shown = showAll ? d.objects : out;
    const toggle = h('input', { type: 'checkbox', id: 'diff-all', checked: showAll, onchange: (e) => { showAll = e.target.checked; drawDiff(panel, d); document.getElementById('diff-all').focus(); } });
    const can = maySync(page.role, app && app.project);
    replace(panel,
      h('h2', null, 'Diff'),
      h('p', null, `Compared at ${short(d.revision)}: ${out.length} of ${d.objects.length} objects differ.`),
      h('div.check', null, toggle, h('label', { for: 'diff-all' }, 'Show objects in sync too')),
      shown.map((o) => h('details.object', { open: o.status !== 'Synced', 'data-object': `${o.kind}/${o.name}` },
        h('summary', null, h('span.kind', null, o.kind), ' ', h('span.name', null, o.name), ' ', badge('sync', o.status === 'Extra' || o.status === 'Missing' ? 'OutOfSync' : o.status), o.status === 'Extra' || o.status === 'Missing' ? h('span.tag.warn', null, o.status === 'Extra' ? 'no longer rendered' : 'not in the cluster') : null),
        o.message ? h('p.error', null, o.message) : null,
        o.diff ? diffLines(o.diff) : h('p.muted', null, 'No difference.'),
        o.status !== 'Synced' ? h('button.small.secondary', { type: 'button', disabled: !can, onclick: () => syncDialog([{ group: o.group, kind: o.kind, name: o.name, namespace: o.namespace }]) }, `Sync only ${o.kind}/${o.name}`) : null)),
      !shown.length ? h('p.muted', null, 'Everything is in sync.') : null);
  };

  const drawHistory = (panel, entries) => {
    const can = maySync(page.role, app && app.project);
    const automated = app && app.automated;
    const list = [...entries].sort((a, b) => b.id - a.id);
    replace(panel,
      h('h2', null, 'History'),
      automated ? h('p.muted', null, 'Automated sync is on, so a rollback would be undone at once: it is possible only with automated sync turned off.') : null,
      list.length ? h('table.grid', { 'aria-label': 'Deployments' },
        h('thead', null, h('tr', null, ['Id', 'Commit', 'Started', 'Deployed', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, list.map((e, i) => h('tr', { 'data-id': e.id },
          h('td', null, String(e.id)),
          h('td', null, h('code', { title: e.revision }, short(e.revision)), i === 0 ? h('span.tag', null, 'current') : null),
          h('td', null, ago(e.deployStartedAt)),
          h('td', null, ago(e.deployedAt)),
          h('td', null, i === 0 ? null : h('button.small.secondary', {
            type: 'button', disabled: !can || automated, title: !can ? `Your role (${page.role}) may not roll back` : automated ? 'Automated sync is on: turn it off to roll back' : null, 'aria-label': `Roll back to deployment ${e.id} (${short(e.revision)})`,
            onclick: async () => {
              if (!await confirmDialog(`Roll back ${name}?`, h('p', null, `Deploy commit ${short(e.revision)} again (deployment ${e.id}).`), 'Roll back')) return;
              await act('rollback', 'rollback', { id: e.id }, 'Rollback');
            },
          }, 'Rollback')))))) : h('p.muted', null, 'Not deployed yet.'));
  };

  const drawEvents = (panel, events) => {
    replace(panel,
      h('h2', null, 'Events'),
      events.length ? h('table.grid', { 'aria-label': 'Events' },
        h('thead', null, h('tr', null, ['Type', 'Reason', 'Object', 'Message', 'Count', 'Last seen'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, events.map((e) => h('tr', { class: e.type === 'Warning' ? 'warning' : null },
          h('td', null, e.type === 'Warning' ? h('strong', null, 'Warning') : e.type),
          h('td', null, e.reason), h('td', null, h('code', null, e.object)), h('td', null, e.message),
          h('td', null, String(e.count)), h('td', null, ago(e.lastTimestamp || e.firstTimestamp)))))) : h('p.muted', null, 'No events.'));
  };

  const drawLogs = () => {
    const panel = panels.Logs;
    if (panel.dataset.ready) {
      const sel = panel.querySelector('select');
      refreshPodChoices(sel);
      return;
    }
    panel.dataset.ready = '1';
    const podSel = h('select', { name: 'pod' });
    refreshPodChoices(podSel);
    const container = h('input', { type: 'text', name: 'container', autocomplete: 'off', placeholder: 'first container' });
    const tail = h('input', { type: 'number', name: 'tail', min: '1', max: '10000', value: '200' });
    const out = h('pre.logs', { tabindex: '0', 'aria-label': 'Log output' });
    const stateText = h('span.muted', { 'aria-live': 'polite' });
    const startBtn = h('button', { type: 'submit' }, 'Show logs');
    const stopBtn = h('button.secondary', { type: 'button', disabled: true }, 'Stop');
    const form = h('form.filters', { 'aria-label': 'Pod logs' },
      field('Pod', podSel), field('Container', container), field('Last lines', tail),
      h('div.field.end', null, h('div.actions', null, startBtn, stopBtn)));
    const stop = () => { if (logs.abort) logs.abort.abort(); logs.abort = null; stopBtn.disabled = true; };
    stopBtn.addEventListener('click', () => { stop(); stateText.textContent = 'Stopped.'; });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      stop();
      if (!podSel.value) { stateText.textContent = 'No pod to read.'; return; }
      logs.abort = new AbortController();
      page.signal.addEventListener('abort', stop, { once: true });
      stopBtn.disabled = false;
      out.textContent = '';
      stateText.textContent = `Following ${podSel.value}…`;
      try {
        const res = await request('GET', `applications/${enc(name)}/logs`, {
          params: { pod: podSel.value, container: container.value.trim(), tail: tail.value },
          signal: logs.abort.signal, accept: 'text/plain',
        });
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          out.append(value);
          // Keep the last ~5,000 lines.
          if (out.childNodes.length > 500) out.textContent = out.textContent.split('\n').slice(-5000).join('\n');
          out.scrollTop = out.scrollHeight;
        }
        stateText.textContent = 'End of log.';
      } catch (err) {
        if (err.name !== 'AbortError') stateText.textContent = err.message;
      } finally {
        stopBtn.disabled = true;
      }
    });
    replace(panel, h('h2', null, 'Pod logs'), form, stateText, out);
    if (logs.pod) form.requestSubmit();
  };

  const refreshPodChoices = (sel) => {
    const names = app ? pods(app.tree).map((p) => p.name) : [];
    const want = logs.pod || sel.value;
    replace(sel, names.length ? names.map((n) => h('option', { value: n }, n)) : h('option', { value: '' }, 'no pods'));
    if (names.includes(want)) sel.value = want;
    if (logs.pod && panels.Logs.dataset.ready && sel.value === logs.pod && sel.form && sel.dataset.asked !== logs.pod) {
      sel.dataset.asked = logs.pod;
      sel.form.requestSubmit();
    }
  };

  let loading = null;
  let again = false;
  const load = async () => {
    if (loading) { again = true; return loading; }
    loading = (async () => {
      do {
        again = false;
        try {
          const d = await get(`applications/${enc(name)}`, null, page.signal);
          const first = !app;
          app = Object.assign({}, d, { summary: d });
          drawHead();
          drawFacts();
          drawTree();
          if (first || active !== 'Logs') loadTab(active);
          // Pods come and go (a rollout): keep the pod choices those of the tree shown.
          else if (panels.Logs.dataset.ready) refreshPodChoices(panels.Logs.querySelector('select'));
        } catch (e) {
          if (e.name === 'AbortError') return;
          if (!app) {
            replace(head, h('h1', null, name));
            replace(tree, errorBox(e));
          } else {
            say(e.message, 'error');
          }
        }
      } while (again && !page.signal.aborted);
    })();
    try { await loading; } finally { loading = null; }
  };

  await load();
  subscribe({ application: name }, (msg) => {
    if (msg.kind === 'application' && msg.name === name) {
      if (msg.action === 'delete') { say(`Application ${name} was deleted`); return; }
      load();
    }
  }, page.signal, load);
}
