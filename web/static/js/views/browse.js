// Artists, albums, their pages, and the play queue.

import { get } from '../api.js';
import { cover, h, section } from '../dom.js';
import { player } from '../player.js';
import { albumCard, artistCard, grid, trackList } from '../tracks.js';

export async function artistsView(main) {
  main.append(h('h1', {}, 'Artists'));
  const { items } = await get('/artists', { limit: 200 });
  main.append(grid(items, artistCard));
}

export async function artistView(main, { id }) {
  const [artist, albums, tracks] = await Promise.all([
    get(`/artists/${id}`),
    get('/albums', { artist_id: id, sort: '-release_year', limit: 100 }),
    get('/tracks', { artist_id: id, status: 'ready', sort: '-play_count', limit: 50 }),
  ]);
  main.append(
    h('header', { class: 'page-head' },
      h('div', { class: 'cover round big', 'aria-hidden': 'true' },
        artist.image_url ? h('img', { src: artist.image_url, alt: '' }) : h('span', { class: 'initial' }, artist.name.slice(0, 1).toUpperCase())),
      h('div', {},
        h('p', { class: 'kicker' }, 'Artist'),
        h('h1', {}, artist.name),
        artist.bio ? h('p', { class: 'bio' }, artist.bio) : null,
        tracks.items.length ? h('button', { type: 'button', class: 'primary-btn', onclick: () => player.playTracks(tracks.items, 0) }, 'Play') : null)),
    section('Popular', trackList(tracks.items)),
    section('Albums', grid(albums.items, albumCard)),
  );
}

export async function albumsView(main) {
  main.append(h('h1', {}, 'Albums'));
  const { items } = await get('/albums', { limit: 200, sort: 'title' });
  main.append(grid(items, albumCard));
}

export async function albumView(main, { id }) {
  const album = await get(`/albums/${id}`);
  const playable = album.tracks.filter((t) => t.status === 'ready');
  const total = album.tracks.reduce((sum, t) => sum + (t.duration_ms || 0), 0);
  main.append(
    h('header', { class: 'page-head' },
      cover(album.cover_url || (album.tracks.find((t) => t.cover_url) || {}).cover_url, `Cover of ${album.title}`),
      h('div', {},
        h('p', { class: 'kicker' }, 'Album'),
        h('h1', {}, album.title),
        h('p', {}, h('a', { href: `/artists/${album.artist_id}` }, album.artist_name || (album.artist && album.artist.name) || 'Artist'),
          album.release_year ? ` · ${album.release_year}` : '',
          ` · ${album.tracks.length} tracks · ${Math.round(total / 60000)} min`),
        playable.length ? h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'primary-btn', onclick: () => player.playTracks(playable, 0) }, 'Play'),
          h('button', { type: 'button', class: 'secondary-btn', onclick: () => { player.shuffle = true; player.playTracks(playable, Math.floor(Math.random() * playable.length)); } }, 'Shuffle')) : null)),
    trackList(album.tracks, { numbered: true }),
  );
}

export function queueView(main) {
  main.append(h('h1', {}, 'Queue'));
  const box = h('div');
  main.append(box);
  const draw = () => {
    const upcoming = player.upcoming();
    box.replaceChildren(upcoming.length ? trackList(upcoming) : h('p', { class: 'empty' }, 'The queue is empty. Play an album or a playlist.'));
  };
  draw();
  const off = player.onChange(draw);
  return off; // the router calls this when the view is left
}
