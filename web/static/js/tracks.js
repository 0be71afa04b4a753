// Track lists and cards shared by every view, with each track's menu (queue, playlists, links).

import { get, post, offers } from './api.js';
import { clear, copyText, cover, errorText, formatTime, h, toast } from './dom.js';
import { player } from './player.js';

let openMenu = null;

function closeMenu() {
  if (openMenu) {
    openMenu.menu.remove();
    openMenu.button.setAttribute('aria-expanded', 'false');
    openMenu = null;
  }
}

document.addEventListener('click', (e) => {
  if (openMenu && !openMenu.menu.contains(e.target) && e.target !== openMenu.button) closeMenu();
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && openMenu) {
    const button = openMenu.button;
    closeMenu();
    button.focus();
  }
});

function menuItem(label, action) {
  return h('button', {
    type: 'button',
    role: 'menuitem',
    onclick: async () => {
      closeMenu();
      try {
        await action();
      } catch (err) {
        toast(errorText(err), 'error');
      }
    },
  }, label);
}

async function addToPlaylist(track, menu) {
  // The menu turns into the list of the user's playlists.
  const { items } = await get('/playlists');
  const name = h('input', { type: 'text', placeholder: 'New playlist', 'aria-label': 'New playlist name' });
  clear(menu,
    h('div', { class: 'menu-title' }, 'Add to playlist'),
    items.map((p) => menuItem(p.name, async () => {
      await post(`/playlists/${p.id}/tracks`, { track_ids: [track.id] });
      toast(`Added to “${p.name}”.`);
    })),
    h('form', {
      class: 'menu-form',
      onsubmit: async (e) => {
        e.preventDefault();
        if (!name.value.trim()) return;
        closeMenu();
        try {
          const p = await post('/playlists', { name: name.value.trim(), description: '', is_public: false });
          await post(`/playlists/${p.id}/tracks`, { track_ids: [track.id] });
          toast(`Added to “${p.name}”.`);
        } catch (err) {
          toast(errorText(err), 'error');
        }
      },
    }, name, h('button', { type: 'submit', class: 'small-btn' }, 'Create')),
  );
  (menu.querySelector('[role=menuitem]') || name).focus();
}

function showMenu(button, track, extra) {
  if (openMenu && openMenu.button === button) return closeMenu();
  closeMenu();
  const menu = h('div', { class: 'menu', role: 'menu', 'aria-label': `Actions for ${track.title}` });
  const ready = track.status === 'ready';
  menu.append(
    ready && menuItem('Play next', () => player.addNext(track)),
    ready && menuItem('Add to queue', () => player.addToQueue(track)),
    ready && offers('POST', '/playlists/{id}/tracks') && h('button', {
      type: 'button', role: 'menuitem', onclick: (e) => { e.stopPropagation(); addToPlaylist(track, menu).catch((err) => toast(errorText(err), 'error')); },
    }, 'Add to playlist…'),
    ready && menuItem('Copy HLS link', async () => {
      const media = await get(`/tracks/${track.id}/media`);
      await copyText(media.hls_url, 'HLS link');
    }),
    track.album_id && menuItem('Go to album', () => import('./router.js').then((r) => r.navigate(`/albums/${track.album_id}`))),
    menuItem('Go to artist', () => import('./router.js').then((r) => r.navigate(`/artists/${track.artist_id}`))),
    ...(extra ? extra(track) : []).map(([label, fn]) => menuItem(label, fn)),
  );
  button.after(menu);
  button.setAttribute('aria-expanded', 'true');
  openMenu = { menu, button };
  const first = menu.querySelector('[role=menuitem]');
  if (first) first.focus();
}

// The row of the track the player shows is marked (visibly, and for screen readers) in every list.
function markPlaying(root = document) {
  const id = player.shownTrackId;
  for (const row of root.querySelectorAll('li.track')) {
    const on = Boolean(id) && row.dataset.trackId === id;
    row.classList.toggle('playing', on);
    if (on) row.setAttribute('aria-current', 'true');
    else row.removeAttribute('aria-current');
  }
}
player.onChange(() => markPlaying());

// A list of tracks; play starts the whole list at that track. `extra(track)` adds menu entries.
export function trackList(tracks, { numbered = false, extra = null, decorate = null } = {}) {
  if (!tracks.length) return h('p', { class: 'empty' }, 'No tracks yet.');
  const list = h('ol', { class: 'tracks' + (numbered ? ' numbered' : '') });
  tracks.forEach((t, i) => {
    const ready = t.status === 'ready';
    const row = h('li', { class: 'track', dataset: { trackId: t.id } },
      h('button', {
        type: 'button', class: 'icon-btn play-track', 'aria-label': `Play ${t.title}`, disabled: !ready,
        onclick: () => player.playTracks(tracks.filter((x) => x.status === 'ready'), tracks.filter((x) => x.status === 'ready').indexOf(t)),
      }, numbered ? h('span', { class: 'num' }, String(t.track_no || i + 1)) : null, h('span', { class: 'glyph' }, '▶')),
      cover(t.cover_url),
      h('div', { class: 'track-text' },
        h('span', { class: 'track-title' }, t.title),
        h('span', { class: 'track-sub' },
          h('a', { href: `/artists/${t.artist_id}` }, t.artist_name || 'Unknown artist'),
          t.album_id ? [' · ', h('a', { href: `/albums/${t.album_id}` }, t.album_title || 'Album')] : null)),
      !ready ? h('span', { class: 'badge', dataset: { status: t.status } }, t.status) : null,
      h('span', { class: 'duration' }, formatTime(t.duration_ms)),
      h('div', { class: 'menu-wrap' },
        h('button', {
          type: 'button', class: 'icon-btn', 'aria-label': `More for ${t.title}`, 'aria-haspopup': 'menu', 'aria-expanded': 'false',
          onclick: (e) => showMenu(e.currentTarget, t, extra),
        }, '⋯')),
    );
    if (decorate) decorate(row, t, i);
    list.append(row);
  });
  markPlaying(list);
  return list;
}

export function albumCard(album) {
  return h('a', { class: 'card', href: `/albums/${album.id}` },
    cover(album.cover_url),
    h('span', { class: 'card-title' }, album.title),
    h('span', { class: 'card-sub' }, [album.artist_name, album.release_year].filter(Boolean).join(' · ')));
}

export function artistCard(artist) {
  return h('a', { class: 'card artist', href: `/artists/${artist.id}` },
    h('div', { class: 'cover round', 'aria-hidden': 'true' },
      artist.image_url ? h('img', { src: artist.image_url, alt: '' }) : h('span', { class: 'initial' }, (artist.name || '?').slice(0, 1).toUpperCase())),
    h('span', { class: 'card-title' }, artist.name));
}

export function grid(items, card) {
  if (!items.length) return h('p', { class: 'empty' }, 'Nothing here yet.');
  return h('div', { class: 'grid' }, items.map(card));
}
