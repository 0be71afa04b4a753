// Playlists: create, rename, delete, public toggle, M3U link, drag (or buttons) to reorder, remove.

import { del, get, patch, post } from '../api.js';
import { clear, copyText, errorText, formatTime, h, toast } from '../dom.js';
import { player } from '../player.js';
import { navigate } from '../router.js';
import { trackList } from '../tracks.js';

const itemsOf = (data) => (Array.isArray(data) ? data : data.items || []);

export async function playlistsView(main) {
  main.append(h('h1', {}, 'Playlists'));
  const name = h('input', { id: 'new-playlist', name: 'name', required: true, maxlength: 200 });
  const form = h('form', {
    class: 'inline-form',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        const p = await post('/playlists', { name: name.value.trim(), description: '', is_public: false });
        navigate(`/playlists/${p.id}`);
      } catch (err) {
        toast(errorText(err), 'error');
      }
    },
  }, h('label', { for: 'new-playlist' }, 'New playlist'), name, h('button', { type: 'submit', class: 'primary-btn' }, 'Create'));
  main.append(form);
  const lists = itemsOf(await get('/playlists'));
  main.append(lists.length
    ? h('ul', { class: 'playlist-list' }, lists.map((p) => h('li', {},
      h('a', { href: `/playlists/${p.id}` }, p.name),
      h('span', { class: 'muted' }, ` ${p.track_count} tracks · ${formatTime(p.duration_ms)}${p.is_public ? ' · public' : ''}`))))
    : h('p', { class: 'empty' }, 'No playlists yet.'));
}

export async function playlistView(main, { id }, ctx) {
  let pl = await get(`/playlists/${id}`);
  const mine = pl.user_id === ctx.user.id;
  const title = h('h1', {}, pl.name);
  const body = h('div');
  main.append(h('header', { class: 'page-head' }, h('div', {}, h('p', { class: 'kicker' }, pl.is_public ? 'Public playlist' : 'Playlist'), title,
    pl.description ? h('p', {}, pl.description) : null)), body);

  const reload = async () => {
    pl = await get(`/playlists/${id}`);
    draw();
  };

  const move = async (from, to) => {
    if (from === to || to < 0 || to >= pl.tracks.length) return;
    try {
      pl = await post(`/playlists/${id}/tracks/move`, { from, to });
      if (!pl || !pl.tracks) await reload();
      else draw();
      toast('Order saved.');
    } catch (err) {
      toast(errorText(err), 'error');
      await reload();
    }
  };

  const decorate = (row, _t, i) => {
    if (!mine) return;
    row.draggable = true;
    row.dataset.position = String(i);
    row.prepend(h('span', { class: 'drag-handle', 'aria-hidden': 'true', title: 'Drag to reorder' }, '⠿'));
    row.addEventListener('dragstart', (e) => {
      e.dataTransfer.setData('text/plain', String(i));
      e.dataTransfer.effectAllowed = 'move';
      row.classList.add('dragging');
    });
    row.addEventListener('dragend', () => row.classList.remove('dragging'));
    row.addEventListener('dragover', (e) => {
      e.preventDefault();
      row.classList.add('drop-target');
    });
    row.addEventListener('dragleave', () => row.classList.remove('drop-target'));
    row.addEventListener('drop', (e) => {
      e.preventDefault();
      row.classList.remove('drop-target');
      move(Number(e.dataTransfer.getData('text/plain')), i);
    });
    // The same moves from the keyboard.
    row.querySelector('.menu-wrap').before(
      h('button', { type: 'button', class: 'icon-btn small', 'aria-label': `Move ${_t.title} up`, disabled: i === 0, onclick: () => move(i, i - 1) }, '↑'),
      h('button', { type: 'button', class: 'icon-btn small', 'aria-label': `Move ${_t.title} down`, disabled: i === pl.tracks.length - 1, onclick: () => move(i, i + 1) }, '↓'),
    );
  };

  const extra = mine ? (t) => [['Remove from playlist', async () => {
    const position = pl.tracks.indexOf(t);
    await del(`/playlists/${id}/tracks/${position}`);
    await reload();
  }]] : null;

  const draw = () => {
    title.textContent = pl.name;
    const playable = pl.tracks.filter((t) => t.status === 'ready');
    const actions = h('div', { class: 'actions' },
      playable.length ? h('button', { type: 'button', class: 'primary-btn', onclick: () => player.playTracks(playable, 0) }, 'Play') : null,
      h('button', {
        type: 'button', class: 'secondary-btn',
        onclick: () => copyText(new URL(`/api/v1/playlists/${id}.m3u8`, location.origin).href, 'M3U link'),
      }, 'Copy M3U link'));
    const manage = mine ? h('form', {
      class: 'inline-form',
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          pl = { ...pl, ...(await patch(`/playlists/${id}`, { name: nameInput.value.trim() })) };
          draw();
          toast('Renamed.');
        } catch (err) {
          toast(errorText(err), 'error');
        }
      },
    },
    h('label', { for: 'pl-name' }, 'Name'),
    h('input', { id: 'pl-name', value: pl.name, required: true, maxlength: 200 }),
    h('button', { type: 'submit', class: 'secondary-btn' }, 'Rename'),
    h('label', { class: 'toggle' },
      h('input', {
        type: 'checkbox', id: 'pl-public', checked: pl.is_public,
        onchange: async (e) => {
          try {
            pl = { ...pl, ...(await patch(`/playlists/${id}`, { is_public: e.target.checked })) };
            toast(pl.is_public ? 'The playlist is public.' : 'The playlist is private.');
          } catch (err) {
            e.target.checked = !e.target.checked;
            toast(errorText(err), 'error');
          }
        },
      }), ' Public'),
    h('button', {
      type: 'button', class: 'danger-btn',
      onclick: async () => {
        if (!confirm(`Delete “${pl.name}”?`)) return;
        await del(`/playlists/${id}`);
        navigate('/playlists');
      },
    }, 'Delete')) : null;
    const nameInput = manage ? manage.querySelector('#pl-name') : null;
    clear(body, actions, manage,
      h('p', { class: 'muted' }, `${pl.track_count ?? pl.tracks.length} tracks · ${formatTime(pl.duration_ms)}`),
      trackList(pl.tracks, { decorate, extra }));
  };
  draw();
}
