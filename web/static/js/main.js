// Boot: who is signed in, the routes, the player bar, the live connection, keyboard shortcuts.

import { ApiError, del, get, loadSpec, setCsrf } from './api.js';
import { $, clear, errorText, h, toast } from './dom.js';
import { lyricsPanel } from './lyrics.js';
import { player } from './player.js';
import { connect, disconnect, events } from './realtime.js';
import { match, navigate, onNavigate, route, startRouter } from './router.js';
import { adminView } from './views/admin.js';
import { appsView } from './views/apps.js';
import { loginView, signupView } from './views/auth.js';
import { albumView, albumsView, artistView, artistsView, queueView } from './views/browse.js';
import { bindSearchBox, homeView, searchView } from './views/home.js';
import { playlistView, playlistsView } from './views/playlists.js';
import { studioView } from './views/studio.js';

const PUBLIC = new Set(['/login', '/signup']);
const ctx = { user: null, signedIn };
let leaveView = null;
let renderSeq = 0;

route('/', homeView);
route('/login', loginView);
route('/signup', signupView);
route('/search', searchView);
route('/artists', artistsView);
route('/artists/:id', artistView);
route('/albums', albumsView);
route('/albums/:id', albumView);
route('/playlists', playlistsView);
route('/playlists/:id', playlistView);
route('/queue', queueView);
route('/studio', studioView);
route('/admin', adminView);
route('/admin/:section', adminView);
route('/apps', appsView);

async function render(loc) {
  const seq = ++renderSeq;
  if (leaveView) leaveView();
  leaveView = null;
  const main = $('#main');
  if (!ctx.user && !PUBLIC.has(loc.pathname)) return navigate('/login', { replace: true });
  if (ctx.user && PUBLIC.has(loc.pathname)) return navigate('/', { replace: true });
  const found = match(loc.pathname);
  if (loc.pathname !== '/search') $('#search-input').value = '';
  clear(main);
  main.setAttribute('aria-busy', 'true');
  markNav(loc.pathname);
  closeNav();
  try {
    if (!found) {
      main.append(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '/' }, 'Back home')));
    } else {
      const leave = await found.view(main, found.params, ctx);
      if (seq === renderSeq && typeof leave === 'function') leaveView = leave;
      else if (typeof leave === 'function') leave();
    }
  } catch (err) {
    if (seq !== renderSeq) return;
    if (err instanceof ApiError && err.status === 401) return resetSession();
    main.append(h('p', { class: 'form-error', role: 'alert' }, errorText(err)));
  } finally {
    if (seq === renderSeq) main.removeAttribute('aria-busy');
  }
  if (seq === renderSeq) {
    const heading = main.querySelector('h1');
    document.title = heading ? `${heading.textContent} · HarmonyStream` : 'HarmonyStream';
    // One short announcement per view (not the whole view read aloud, as a live <main> would).
    $('#announcer').textContent = heading ? `${heading.textContent} page` : '';
    // Moving focus tells screen readers the view changed; the search box keeps it while typing.
    if (document.activeElement !== $('#search-input')) main.focus({ preventScroll: true });
  }
}

function markNav(pathname) {
  for (const a of document.querySelectorAll('#sidebar a')) {
    const href = a.getAttribute('href');
    const current = href === '/' ? pathname === '/' : pathname.startsWith(href);
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function closeNav() {
  document.body.classList.remove('nav-open');
  $('#nav-toggle').setAttribute('aria-expanded', 'false');
}

function showChrome(on) {
  $('#sidebar').hidden = !on;
  $('#player').hidden = !on;
  $('#search-form').hidden = !on;
  $('#connection').hidden = !on;
  document.body.classList.toggle('signed-out', !on);
  if (!on) return;
  $('#account-name').textContent = ctx.user.username;
  for (const li of document.querySelectorAll('#sidebar [data-role]')) {
    const role = li.dataset.role;
    li.hidden = !(ctx.user.roles.includes(role) || (role === 'artist' && ctx.user.roles.includes('admin')));
  }
}

async function signedIn(session) {
  ctx.user = session.user;
  setCsrf(session.csrf_token);
  showChrome(true);
  connect();
  player.sync();
  await navigate('/', { replace: true });
}

function resetSession() {
  ctx.user = null;
  setCsrf(null);
  disconnect();
  showChrome(false);
  navigate('/login', { replace: true });
}

function bindChrome() {
  $('#sign-out').addEventListener('click', async () => {
    try {
      await del('/auth/session');
    } catch {
      /* already signed out */
    }
    player.audio.pause();
    player.endFade();
    resetSession();
  });
  $('#nav-toggle').addEventListener('click', () => {
    const open = !document.body.classList.contains('nav-open');
    document.body.classList.toggle('nav-open', open);
    $('#nav-toggle').setAttribute('aria-expanded', String(open));
  });
  events.addEventListener('status', (e) => {
    const el = $('#connection');
    el.dataset.connected = String(e.detail.connected);
    el.textContent = e.detail.connected ? '' : e.detail.missing ? 'Live updates unavailable' : 'Reconnecting…';
  });
  events.addEventListener('error', (e) => toast(e.detail.message || 'Error', 'error'));
}

// Keyboard shortcuts; ignored while typing in a field.
const SHORTCUTS = {
  ' ': () => player.toggle(),
  k: () => player.toggle(),
  ArrowRight: () => player.seekBy(5000),
  ArrowLeft: () => player.seekBy(-5000),
  n: () => player.next(),
  p: () => player.previous(),
  s: () => player.setShuffle(!player.shuffle),
  r: () => player.cycleRepeat(),
  m: () => player.setVolume(player.volume > 0 ? 0 : 1),
  ArrowUp: () => player.setVolume(player.volume + 0.1),
  ArrowDown: () => player.setVolume(player.volume - 0.1),
  '/': () => $('#search-input').focus(),
};

function bindKeys() {
  document.addEventListener('keydown', (e) => {
    if (!ctx.user || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t.closest('input, textarea, select, [contenteditable]')) return;
    if ((e.key === ' ' || e.key.startsWith('Arrow')) && t.closest('button, a, [role=menu]')) return;
    const fn = SHORTCUTS[e.key];
    if (!fn) return;
    e.preventDefault();
    fn();
  });
}

async function boot() {
  bindChrome();
  bindSearchBox();
  bindKeys();
  player.bind();
  lyricsPanel.bind();
  onNavigate(render);
  startRouter();
  await loadSpec();
  if (document.body.dataset.signedIn === 'true') {
    try {
      const session = await get('/auth/session');
      ctx.user = session.user;
      setCsrf(session.csrf_token);
      showChrome(true);
      connect();
      player.sync();
    } catch {
      showChrome(false);
    }
  } else {
    showChrome(false);
  }
  await render(location);
}

boot();
