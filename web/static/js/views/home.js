// Home (recently played, recommendations, new releases) and search as you type.

import { get, offers } from '../api.js';
import { clear, h, section } from '../dom.js';
import { navigate } from '../router.js';
import { albumCard, artistCard, grid, trackList } from '../tracks.js';

export async function homeView(main, _params, ctx) {
  main.append(h('h1', {}, `Welcome, ${ctx.user.username}`));
  const recent = section('Recently played', h('p', { class: 'loading' }, 'Loading…'));
  const recs = offers('GET', '/recommendations') ? section('Recommended for you', h('p', { class: 'loading' }, 'Loading…')) : null;
  const newAlbums = section('New releases', h('p', { class: 'loading' }, 'Loading…'));
  const newTracks = section('New tracks', h('p', { class: 'loading' }, 'Loading…'));
  main.append(recent, recs || '', newAlbums, newTracks);

  const history = offers('GET', '/me/history') ? get('/me/history', { limit: 30 }) : Promise.resolve({ items: [] });
  const [hist, rec, albums, tracks] = await Promise.allSettled([
    history,
    recs ? get('/recommendations', { limit: 12 }) : Promise.resolve(null),
    get('/albums', { sort: '-created_at', limit: 12 }),
    get('/tracks', { sort: '-created_at', status: 'ready', limit: 10 }),
  ]);
  if (hist.status === 'fulfilled') {
    const ids = [...new Set(hist.value.items.map((i) => i.track_id))].slice(0, 8);
    const found = await Promise.allSettled(ids.map((id) => get(`/tracks/${id}`)));
    const list = found.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    clear(recent, h('h2', {}, 'Recently played'), list.length ? trackList(list) : h('p', { class: 'empty' }, 'Play something and it shows up here.'));
  } else clear(recent, h('h2', {}, 'Recently played'), h('p', { class: 'empty' }, 'Not available.'));
  if (recs) {
    const items = rec.status === 'fulfilled' && rec.value ? rec.value.tracks || rec.value.items || [] : [];
    clear(recs, h('h2', {}, 'Recommended for you'), items.length ? trackList(items.map((i) => i.track || i)) : h('p', { class: 'empty' }, 'Listen to a few tracks to get recommendations.'));
  }
  clear(newAlbums, h('h2', {}, 'New releases'), albums.status === 'fulfilled' ? grid(albums.value.items, albumCard) : h('p', { class: 'empty' }, 'Not available.'));
  clear(newTracks, h('h2', {}, 'New tracks'), tracks.status === 'fulfilled' ? trackList(tracks.value.items) : h('p', { class: 'empty' }, 'Not available.'));
}

let searchSeq = 0;

export async function searchView(main) {
  const q = new URLSearchParams(location.search).get('q') || '';
  const input = document.getElementById('search-input');
  if (input.value !== q && document.activeElement !== input) input.value = q;
  main.append(h('h1', {}, q ? `Results for “${q}”` : 'Search'));
  const results = h('div', { class: 'results', 'aria-busy': 'true' });
  main.append(results);
  if (!q.trim()) {
    results.removeAttribute('aria-busy');
    results.append(h('p', { class: 'empty' }, 'Type in the search box to find tracks, albums and artists.'));
    if (document.activeElement !== input) input.focus();
    return;
  }
  const seq = ++searchSeq;
  let data;
  if (offers('GET', '/search')) {
    data = await get('/search', { q, type: 'track,album,artist', limit: 20 });
  } else {
    // Without the search endpoint, artist names still match by prefix.
    const artists = await get('/artists', { q, limit: 20 });
    data = { tracks: { items: [], total: 0 }, albums: { items: [], total: 0 }, artists };
  }
  if (seq !== searchSeq) return; // a newer query already drew (or will draw) the results
  results.removeAttribute('aria-busy');
  const total = data.tracks.total + data.albums.total + data.artists.total;
  if (!total) return results.append(h('p', { class: 'empty' }, 'Nothing found.'));
  if (data.tracks.items.length) results.append(section('Tracks', trackList(data.tracks.items)));
  if (data.albums.items.length) results.append(section('Albums', grid(data.albums.items, albumCard)));
  if (data.artists.items.length) results.append(section('Artists', grid(data.artists.items, artistCard)));
}

// The top bar's box: every keystroke (debounced) redraws /search?q=… without adding history entries.
export function bindSearchBox() {
  const form = document.getElementById('search-form');
  const input = document.getElementById('search-input');
  let timer = null;
  const go = () => {
    const url = '/search?q=' + encodeURIComponent(input.value);
    navigate(url, { replace: location.pathname === '/search' });
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(go, 200);
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearTimeout(timer);
    go();
  });
}
