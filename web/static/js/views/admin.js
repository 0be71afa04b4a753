// Admin console: users (roles, disable), catalog (edit, delete, merge artists), jobs (failed, retry),
// folder scans. Parts whose endpoints this server does not offer are left out.

import { del, findPath, get, offers, patch, post } from '../api.js';
import { clear, errorText, h, toast } from '../dom.js';

const ROLES = ['listener', 'artist', 'admin'];

export async function adminView(main, { section = 'users' }, ctx) {
  if (!ctx.user.roles.includes('admin')) {
    main.append(h('h1', {}, 'Admin'), h('p', {}, 'Only admins can open the console.'));
    return;
  }
  const tabs = [['users', 'Users'], ['catalog', 'Catalog']];
  if (offers('GET', '/jobs')) tabs.push(['jobs', 'Jobs']);
  if (scanPath()) tabs.push(['scan', 'Scan']);
  main.append(h('h1', {}, 'Admin'),
    h('nav', { class: 'tabs', 'aria-label': 'Admin sections' },
      tabs.map(([key, label]) => h('a', { href: `/admin/${key}`, 'aria-current': key === section ? 'page' : null }, label))));
  const box = h('div', { class: 'admin-section' });
  main.append(box);
  const views = { users, catalog, jobs, scan };
  return (views[section] || users)(box, ctx);
}

async function users(box, ctx) {
  const { items } = await get('/users', { limit: 200 });
  const rows = items.map((u) => {
    const self = u.id === ctx.user.id;
    const roleBoxes = ROLES.map((role) => h('label', { class: 'check' },
      h('input', {
        type: 'checkbox', checked: u.roles.includes(role), disabled: self && role === 'admin',
        'aria-label': `${role} role for ${u.username}`, dataset: { role },
        onchange: async (e) => {
          const roles = [...e.target.closest('td').querySelectorAll('input:checked')].map((i) => i.dataset.role);
          try {
            if (!roles.length) throw new Error('A user keeps at least one role.');
            await patch(`/users/${u.id}`, { roles });
            toast(`${u.username}: ${roles.join(', ')}.`);
          } catch (err) {
            e.target.checked = !e.target.checked;
            toast(errorText(err), 'error');
          }
        },
      }), ` ${role}`));
    return h('tr', { dataset: { userId: u.id, username: u.username } },
      h('td', {}, u.username), h('td', {}, u.email), h('td', { class: 'roles' }, h('div', { class: 'role-boxes' }, roleBoxes)),
      h('td', {}, h('label', { class: 'check' }, h('input', {
        type: 'checkbox', checked: u.disabled, disabled: self, 'aria-label': `Disable ${u.username}`,
        onchange: async (e) => {
          try {
            await patch(`/users/${u.id}`, { disabled: e.target.checked });
            toast(`${u.username} is ${e.target.checked ? 'disabled' : 'enabled'}.`);
          } catch (err) {
            e.target.checked = !e.target.checked;
            toast(errorText(err), 'error');
          }
        },
      }), ' disabled')),
      h('td', {}, self ? null : h('button', {
        type: 'button', class: 'danger-btn small', 'aria-label': `Delete ${u.username}`,
        onclick: async (e) => {
          if (!confirm(`Delete the account ${u.username}?`)) return;
          try {
            await del(`/users/${u.id}`);
            e.target.closest('tr').remove();
          } catch (err) {
            toast(errorText(err), 'error');
          }
        },
      }, 'Delete')));
  });
  clear(box, h('h2', {}, 'Users'), h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Users' }, h('table', { class: 'data' },
    h('thead', {}, h('tr', {}, ['User', 'Email', 'Roles', 'State', ''].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows))));
}

function editable(value, label, save) {
  const input = h('input', { value, 'aria-label': label, class: 'cell-input' });
  input.addEventListener('change', async () => {
    try {
      await save(input.value.trim());
      toast('Saved.');
    } catch (err) {
      input.value = value;
      toast(errorText(err), 'error');
    }
  });
  return input;
}

function deleteButton(label, path, onDone) {
  return h('button', {
    type: 'button', class: 'danger-btn small', 'aria-label': `Delete ${label}`,
    onclick: async () => {
      if (!confirm(`Delete ${label}?`)) return;
      try {
        await del(path);
        onDone();
      } catch (err) {
        toast(errorText(err), 'error');
      }
    },
  }, 'Delete');
}

async function catalog(box, ctx) {
  const [artists, albums, tracks] = await Promise.all([
    get('/artists', { limit: 200 }), get('/albums', { limit: 200 }), get('/tracks', { limit: 200 }),
  ]);
  const redraw = () => catalog(box, ctx);
  const mergePath = findPath('POST', /^\/artists\/\{[^}]+\}\/merge$/);
  const artistRows = artists.items.map((a) => h('tr', { dataset: { artistId: a.id } },
    h('td', {}, editable(a.name, `Name of artist ${a.name}`, (name) => patch(`/artists/${a.id}`, { name }))),
    mergePath ? h('td', {}, mergeControl(a, artists.items, mergePath, redraw)) : null,
    h('td', {}, deleteButton(`artist ${a.name}`, `/artists/${a.id}`, redraw))));
  const albumRows = albums.items.map((al) => h('tr', { dataset: { albumId: al.id } },
    h('td', {}, editable(al.title, `Title of album ${al.title}`, (title) => patch(`/albums/${al.id}`, { title }))),
    h('td', {}, al.artist_name || ''), h('td', {}, al.release_year ? String(al.release_year) : ''),
    h('td', {}, deleteButton(`album ${al.title}`, `/albums/${al.id}`, redraw))));
  const trackRows = tracks.items.map((t) => h('tr', { dataset: { trackId: t.id } },
    h('td', {}, editable(t.title, `Title of track ${t.title}`, (title) => patch(`/tracks/${t.id}`, { title }))),
    h('td', {}, t.artist_name || ''), h('td', {}, t.album_title || ''),
    h('td', {}, h('span', { class: 'badge', dataset: { status: t.status } }, t.status)),
    h('td', { class: 'num' }, String(t.play_count)),
    h('td', {}, deleteButton(`track ${t.title}`, `/tracks/${t.id}`, redraw))));
  const table = (head, rows) => h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Catalog table' }, h('table', { class: 'data' },
    h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows)));
  clear(box,
    h('h2', {}, `Artists (${artists.total})`),
    mergePath ? null : h('p', { class: 'muted' }, 'Merging duplicate artists is not offered by this server.'),
    table(mergePath ? ['Name', 'Merge into', ''] : ['Name', ''], artistRows),
    h('h2', {}, `Albums (${albums.total})`), table(['Title', 'Artist', 'Year', ''], albumRows),
    h('h2', {}, `Tracks (${tracks.total})`), table(['Title', 'Artist', 'Album', 'Status', 'Plays', ''], trackRows));
}

function mergeControl(artist, all, path, done) {
  const select = h('select', { 'aria-label': `Merge ${artist.name} into` },
    h('option', { value: '' }, '—'),
    all.filter((o) => o.id !== artist.id).map((o) => h('option', { value: o.id }, o.name)));
  select.addEventListener('change', async () => {
    const target = all.find((o) => o.id === select.value);
    if (!target || !confirm(`Merge “${artist.name}” into “${target.name}”?`)) return;
    try {
      await post(path.replace(/\{[^}]+\}/, artist.id), { into_artist_id: target.id });
      toast('Merged.');
      done();
    } catch (err) {
      toast(errorText(err), 'error');
    }
  });
  return select;
}

async function jobs(box) {
  const state = new URLSearchParams(location.search).get('state') || 'failed';
  const { items, total } = await get('/jobs', { state, limit: 100 });
  const tracks = new Map();
  await Promise.all([...new Set(items.map((j) => j.track_id))].map(async (id) => {
    try {
      tracks.set(id, await get(`/tracks/${id}`));
    } catch {
      /* deleted track */
    }
  }));
  clear(box, h('h2', {}, `Jobs: ${state} (${total})`),
    h('nav', { class: 'tabs small', 'aria-label': 'Job states' },
      ['failed', 'running', 'queued', 'done'].map((s) => h('a', { href: `/admin/jobs?state=${s}`, 'aria-current': s === state ? 'page' : null }, s))),
    items.length ? h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Jobs' }, h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, ['Track', 'Attempts', 'Error', 'Updated', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, items.map((j) => h('tr', { dataset: { jobId: j.id } },
        h('td', {}, (tracks.get(j.track_id) || {}).title || j.track_id),
        h('td', { class: 'num' }, `${j.attempts}/${j.max_attempts}`),
        h('td', { class: 'error-text' }, j.error || ''),
        h('td', {}, new Date(j.updated_at).toLocaleString()),
        h('td', {}, j.state === 'failed' ? h('button', {
          type: 'button', class: 'secondary-btn small', 'aria-label': `Retry job of ${(tracks.get(j.track_id) || {}).title || j.track_id}`,
          onclick: async () => {
            try {
              await post(`/jobs/${j.id}/retry`);
              toast('Queued again.');
              jobs(box);
            } catch (err) {
              toast(errorText(err), 'error');
            }
          },
        }, 'Retry') : null)))))) : h('p', { class: 'empty' }, `No ${state} jobs.`));
}

/** 125 → "2:05", 3725 → "1:02:05". */
function clock(seconds) {
  const s = Math.round(seconds) % 60;
  const m = Math.floor(seconds / 60) % 60;
  const hours = Math.floor(seconds / 3600);
  const two = (n) => String(n).padStart(2, '0');
  return hours ? `${hours}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

function scanPath() {
  return findPath('POST', /^\/scans?$/) || findPath('POST', /^\/library\/scans?$/);
}

async function scan(box) {
  const path = scanPath();
  const folder = h('input', { id: 'scan-path', name: 'path', required: true, placeholder: '/srv/music' });
  const progress = h('div', { class: 'scan-progress', role: 'status', 'aria-live': 'polite' });
  clear(box, h('h2', {}, 'Scan a folder'),
    h('form', {
      class: 'inline-form',
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          let s = await post(path, { path: folder.value.trim() });
          const pace = (st) => (st.files_per_second == null ? ''
            : ` · ${Math.round(st.files_per_second)} files/s${st.state === 'running' && st.eta_seconds != null ? ` · ${clock(st.eta_seconds)} left` : ''}`);
          const show = (st) => clear(progress, h('progress', { max: st.total || 1, value: st.done ?? st.processed ?? 0 }),
            ` ${st.state || ''} ${st.done ?? st.processed ?? 0}/${st.total ?? '?'}${pace(st)}`);
          show(s);
          while (s.id && !['done', 'failed', 'finished'].includes(s.state)) {
            await new Promise((r) => setTimeout(r, 1000));
            s = await get(`${path}/${s.id}`);
            show(s);
          }
        } catch (err) {
          toast(errorText(err), 'error');
        }
      },
    }, h('label', { for: 'scan-path' }, 'Folder on the server'), folder, h('button', { type: 'submit', class: 'primary-btn' }, 'Start scan')),
    progress);
}
