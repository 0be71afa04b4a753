// Artist studio: drop several files, a bar per file for the bytes sent, then the live transcode
// percentage from `track` events, then ready; details editable; the artist's tracks with their state.

import { del, findPath, get, patch, upload } from '../api.js';
import { clear, errorText, formatTime, h, section, toast } from '../dom.js';
import { events, isConnected } from '../realtime.js';

const PARALLEL = 2;

export function studioView(main, _params, ctx) {
  if (!ctx.user.roles.some((r) => r === 'artist' || r === 'admin')) {
    main.append(h('h1', {}, 'Studio'), h('p', {}, 'The studio is for artists. Ask an admin for the artist role.'));
    return;
  }
  const rows = new Map(); // track id -> row controller
  const defaults = {
    artist: h('input', { id: 'up-artist', name: 'artist', placeholder: 'From the file’s tags' }),
    album: h('input', { id: 'up-album', name: 'album', placeholder: 'From the file’s tags' }),
    genre: h('input', { id: 'up-genre', name: 'genre', placeholder: 'From the file’s tags' }),
  };
  const picker = h('input', { type: 'file', id: 'file-input', multiple: true, accept: 'audio/*,.flac,.m4a,.opus,.ogg,.wav,.mp3', class: 'visually-hidden' });
  const drop = h('div', { class: 'dropzone', id: 'dropzone' },
    h('p', {}, 'Drop audio files here'),
    h('label', { for: 'file-input', class: 'secondary-btn' }, 'Choose files'),
    picker);
  const list = h('ol', { class: 'uploads', 'aria-label': 'Uploads' });
  const mineBox = h('div');
  main.append(
    h('h1', {}, 'Studio'),
    section('Upload',
      h('div', { class: 'field-row' },
        h('div', { class: 'field' }, h('label', { for: 'up-artist' }, 'Artist'), defaults.artist),
        h('div', { class: 'field' }, h('label', { for: 'up-album' }, 'Album'), defaults.album),
        h('div', { class: 'field' }, h('label', { for: 'up-genre' }, 'Genre'), defaults.genre)),
      drop, list),
    h('section', { class: 'block' }, h('h2', {}, 'Your tracks'), mineBox),
  );

  const queue = [];
  let active = 0;
  const pump = () => {
    while (active < PARALLEL && queue.length) {
      active += 1;
      queue.shift()().finally(() => {
        active -= 1;
        pump();
      });
    }
  };
  const addFiles = (files) => {
    for (const file of files) queue.push(uploadRow(file));
    pump();
  };

  const uploadRow = (file) => {
    const bar = h('progress', { max: 100, value: 0, 'aria-label': `Upload of ${file.name}` });
    const status = h('span', { class: 'upload-status' }, 'Waiting');
    const details = h('div', { class: 'upload-details' });
    const row = h('li', { class: 'upload', dataset: { file: file.name, state: 'waiting' } },
      h('div', { class: 'upload-head' }, h('span', { class: 'upload-name' }, file.name), status), bar, details);
    list.append(row);
    const set = (state, text, value) => {
      row.dataset.state = state;
      status.textContent = text;
      if (value === null) bar.removeAttribute('value');
      else if (value !== undefined) bar.value = value;
    };
    return async () => {
      const form = new FormData();
      form.append('file', file, file.name);
      for (const [k, input] of Object.entries(defaults)) if (input.value.trim()) form.append(k, input.value.trim());
      set('uploading', 'Uploading 0%', 0);
      let track;
      try {
        track = await upload('/tracks', form, (sent, total) => {
          const pct = Math.round((sent / total) * 100);
          set('uploading', `Uploading ${pct}%`, pct);
        });
      } catch (err) {
        set('failed', `Upload failed: ${errorText(err)}`);
        return;
      }
      row.dataset.trackId = track.id;
      bar.setAttribute('aria-label', `Transcoding of ${file.name}`);
      const ctl = {
        update: (ev) => {
          if (ev.status === 'ready') {
            set('ready', 'Ready', 100);
            finish();
          } else if (ev.status === 'failed') {
            set('failed', `Failed: ${ev.error || 'unknown error'}`);
            finish();
          } else set('processing', `Transcoding ${ev.progress || 0}%`, ev.progress || 0);
        },
      };
      rows.set(track.id, ctl);
      let poll = null;
      const finish = async () => {
        clearInterval(poll);
        polls.delete(poll);
        rows.delete(track.id);
        try {
          const fresh = await get(`/tracks/${track.id}`);
          clear(details, metadataForm(fresh, () => drawMine()));
        } catch {
          /* deleted meanwhile */
        }
        drawMine();
      };
      ctl.update(track);
      // Events carry the progress; if the live connection is down, ask now and then instead.
      poll = setInterval(async () => {
        if (isConnected() || !rows.has(track.id)) return;
        try {
          const t = await get(`/tracks/${track.id}`);
          if (rows.has(track.id)) ctl.update({ ...t, progress: t.progress });
        } catch {
          /* next time */
        }
      }, 3000);
      polls.add(poll);
      clear(details, metadataForm(track, () => drawMine()));
    };
  };

  const onTrack = (e) => {
    const ctl = rows.get(e.detail.id);
    if (ctl) ctl.update(e.detail);
  };
  // Leaving the view stops every poll it started (an upload may still be transcoding then).
  const polls = new Set();
  events.addEventListener('track', onTrack);

  picker.addEventListener('change', () => {
    addFiles([...picker.files]);
    picker.value = '';
  });
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    addFiles([...e.dataTransfer.files]);
  });

  const drawMine = async () => {
    const { items: artists } = await get('/artists', { mine: true, limit: 200 });
    const pages = await Promise.all(artists.map((a) => get('/tracks', { artist_id: a.id, limit: 200 })));
    const tracks = pages.flatMap((p) => p.items).filter((t) => !t.owner_id || t.owner_id === ctx.user.id);
    tracks.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    clear(mineBox, tracks.length ? h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Your tracks' }, h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, ['Title', 'Artist', 'Album', 'Length', 'Status', 'Plays', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, tracks.map((t) => h('tr', { dataset: { trackId: t.id } },
        h('td', {}, t.title),
        h('td', {}, t.artist_name || ''),
        h('td', {}, t.album_title || ''),
        h('td', {}, formatTime(t.duration_ms)),
        h('td', {}, h('span', { class: 'badge', dataset: { status: t.status } }, t.status), t.error ? h('span', { class: 'error-text' }, ` ${t.error}`) : null),
        h('td', { class: 'num' }, String(t.play_count)),
        h('td', {}, h('button', {
          type: 'button', class: 'danger-btn small',
          'aria-label': `Delete ${t.title}`,
          onclick: async () => {
            if (!confirm(`Delete “${t.title}”?`)) return;
            try {
              await del(`/tracks/${t.id}`);
              drawMine();
            } catch (err) {
              toast(errorText(err), 'error');
            }
          },
        }, 'Delete'))))))) : h('p', { class: 'empty' }, 'No tracks yet: drop some files above.'));
  };
  drawMine();
  return () => {
    events.removeEventListener('track', onTrack);
    for (const poll of polls) clearInterval(poll);
    polls.clear();
    rows.clear();
  };
}

// Title, album, genre, number and year of one track, prefilled (from its tags) and saved with PATCH.
function metadataForm(track, saved) {
  const id = (name) => `m-${track.id}-${name}`;
  const input = (name, label, attrs = {}) => h('div', { class: 'field' },
    h('label', { for: id(name) }, label), h('input', { id: id(name), name, value: track[name] ?? '', ...attrs }));
  const coverRe = /^\/tracks\/\{[^}]+\}\/cover$/;
  const coverMethod = findPath('PUT', coverRe) ? 'PUT' : 'POST';
  const coverPath = findPath(coverMethod, coverRe);
  const form = h('form', {
    class: 'meta-form',
    'aria-label': `Details of ${track.title}`,
    onsubmit: async (e) => {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      const body = { title: data.title };
      for (const k of ['genre']) body[k] = data[k].trim() || null;
      for (const k of ['track_no', 'release_year']) body[k] = data[k] ? Number(data[k]) : null;
      try {
        await patch(`/tracks/${track.id}`, body);
        toast('Saved.');
        saved();
      } catch (err) {
        toast(errorText(err), 'error');
      }
    },
  },
  input('title', 'Title', { required: true }),
  input('genre', 'Genre'),
  input('track_no', 'No.', { type: 'number', min: 1, max: 9999 }),
  input('release_year', 'Year', { type: 'number', min: 1000, max: 9999 }),
  coverPath ? h('div', { class: 'field' }, h('label', { for: id('cover') }, 'Cover'),
    h('input', {
      id: id('cover'), type: 'file', accept: 'image/jpeg,image/png',
      onchange: async (e) => {
        const file = e.target.files[0];
        if (!file) return;
        const f = new FormData();
        f.append('file', file, file.name);
        try {
          await upload(coverPath.replace(/\{[^}]+\}/, track.id), f, () => {}, coverMethod);
          toast('Cover saved.');
          saved();
        } catch (err) {
          toast(errorText(err), 'error');
        }
      },
    })) : null,
  h('button', { type: 'submit', class: 'secondary-btn' }, 'Save'));
  return form;
}
