// The page: the token (from the login box or the URL fragment), hash routing, the header.
//
// Routes: #/environments, #/environments/NAME, #/applications?filters, #/applications/NAME.
// `/#token=T` (optionally `&next=/applications/NAME`) stores T in session storage and removes it
// from the address bar and the history.

import { get, getToken, setToken, hooks, ApiError } from './api.js';
import { h, replace, errorBox } from './dom.js';
import { environmentsPage, environmentPage } from './envs.js';
import { applicationsPage } from './apps.js';
import { applicationPage } from './app.js';

const main = document.getElementById('main');
const ctx = { role: '', page: null };

/** Take a token out of the fragment: `#token=T[&next=ROUTE]` or `#/route?token=T&...`. */
function tokenFromFragment() {
  const frag = location.hash.slice(1);
  let token = '';
  let route = frag;
  if (frag.startsWith('token=') || frag.startsWith('access_token=')) {
    const p = new URLSearchParams(frag);
    token = p.get('token') || p.get('access_token') || '';
    route = p.get('next') || '/environments';
  } else {
    const q = frag.indexOf('?');
    if (q >= 0) {
      const p = new URLSearchParams(frag.slice(q + 1));
      if (p.has('token')) {
        token = p.get('token') || '';
        p.delete('token');
        const rest = p.toString();
        route = frag.slice(0, q) + (rest ? `?${rest}` : '');
      }
    }
  }
  if (token) {
    setToken(token);
    history.replaceState(null, '', `${location.pathname}#${route.startsWith('/') ? route : `/${route}`}`);
  }
  return !!token;
}

function parseRoute() {
  const frag = location.hash.slice(1) || '/environments';
  const q = frag.indexOf('?');
  const path = q < 0 ? frag : frag.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : frag.slice(q + 1));
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, params };
}

function render() {
  if (ctx.page) ctx.page.abort();
  const ac = new AbortController();
  ctx.page = ac;
  const { parts, params } = parseRoute();
  const section = parts[0] || 'environments';
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  main.replaceChildren();
  const page = { main, signal: ac.signal, role: ctx.role, params };
  if (section === 'environments' && parts[1]) environmentPage(page, parts[1]);
  else if (section === 'environments') environmentsPage(page);
  else if (section === 'applications' && parts[1]) applicationPage(page, parts[1]);
  else if (section === 'applications') applicationsPage(page);
  else {
    document.title = 'Not found · Trellis';
    replace(main, h('h1', { tabindex: '-1' }, 'Not found'), h('p', null, 'No such page. ', h('a', { href: '#/environments' }, 'Go to the environments.')));
  }
  // Move focus to the new page's heading so keyboard and screen reader users land on it.
  if (ctx.navigated) {
    const h1 = main.querySelector('h1');
    if (h1) { h1.setAttribute('tabindex', '-1'); h1.focus({ preventScroll: true }); }
  }
  ctx.navigated = true;
}

function showLogin(message) {
  if (ctx.page) ctx.page.abort();
  ctx.page = null;
  ctx.role = '';
  document.getElementById('logout').hidden = true;
  document.getElementById('who').textContent = '';
  document.getElementById('live').hidden = true;
  document.title = 'Sign in · Trellis';
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const err = h('p.error', { id: 'login-error', role: 'alert' }, message || '');
  const form = h('form.login', { 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Sign in to Trellis'),
    h('div.field', null, h('label', { for: 'token' }, 'Access token'), input,
      h('small.muted', null, 'A token from the server\'s token file or the trellis-tokens Secret. It is kept in this tab\'s session storage only.')),
    err,
    h('div.actions', null, h('button', { type: 'submit' }, 'Sign in')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    err.textContent = '';
    await start(true);
  });
  replace(main, form);
  input.focus();
}

async function start(fromLogin) {
  try {
    const who = await get('whoami');
    ctx.role = who.role;
    document.getElementById('who').textContent = `Signed in as ${who.role}`;
    const out = document.getElementById('logout');
    out.hidden = false;
    out.textContent = getToken() ? 'Log out' : 'Sign in';
    ctx.navigated = !!fromLogin;
    render();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      setToken('');
      showLogin(fromLogin || ctx.hadToken ? 'That token was not accepted.' : '');
    } else {
      replace(main, h('h1', null, 'Trellis'), errorBox(e), h('button', { type: 'button', onclick: () => start(false) }, 'Try again'));
    }
  }
}

hooks.unauthorized = () => {
  if (!ctx.role) return;
  setToken('');
  showLogin('Your session ended (the token was not accepted). Sign in again.');
};

document.getElementById('logout').addEventListener('click', () => {
  const wasAnonymous = ctx.role === 'anonymous';
  setToken('');
  ctx.hadToken = false;
  showLogin(wasAnonymous ? '' : 'Signed out.');
});

// The skip link moves focus past the header; it must not navigate (the fragment is the route).
document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();
  const target = main.querySelector('h1') || main;
  if (!target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
  target.focus();
});

window.addEventListener('hashchange', () => {
  if (tokenFromFragment()) start(false);
  else if (ctx.role) render();
});

tokenFromFragment();
ctx.hadToken = !!getToken();
start(false);
