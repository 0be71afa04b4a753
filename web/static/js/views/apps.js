// Apps: the app passwords Subsonic apps sign in with. A new one's password and api key show once.

import { del, get, post } from '../api.js';
import { clear, copyText, errorText, h, toast } from '../dom.js';

const when = (iso) => (iso ? new Date(iso).toLocaleString() : 'never');

export async function appsView(main, _params, ctx) {
  const server = location.origin;
  main.append(
    h('h1', {}, 'Apps'),
    h('p', {}, 'Apps that speak the Subsonic API (Symfonium, DSub, Ultrasonic, Feishin, Supersonic…) sign in with an app password of their own, never your account password.'),
    h('dl', { class: 'app-settings' },
      h('dt', {}, 'Server'), h('dd', {}, h('code', { id: 'app-server' }, server), ' ',
        h('button', { type: 'button', class: 'small-btn', onclick: () => copyText(server, 'Server URL') }, 'Copy')),
      h('dt', {}, 'Username'), h('dd', {}, h('code', {}, ctx.user.username))),
  );
  const name = h('input', { id: 'app-name', name: 'name', required: true, maxlength: 100, placeholder: 'Phone' });
  const made = h('div', { id: 'app-made', role: 'status' });
  const list = h('div', { id: 'app-list' });
  const draw = async () => {
    const { items } = await get('/me/app-passwords');
    clear(list, items.length
      ? h('ul', { class: 'app-passwords' }, items.map((p) => h('li', { dataset: { appPasswordId: p.id } },
        h('span', { class: 'app-name' }, p.name),
        h('span', { class: 'muted' }, ` · made ${when(p.created_at)} · last used ${when(p.last_used_at)}`),
        h('button', {
          type: 'button', class: 'danger-btn small', 'aria-label': `Revoke ${p.name}`,
          onclick: async () => {
            if (!confirm(`Revoke “${p.name}”? Apps using it are signed out.`)) return;
            try {
              await del(`/me/app-passwords/${p.id}`);
              toast(`“${p.name}” revoked.`);
              draw();
            } catch (err) {
              toast(errorText(err), 'error');
            }
          },
        }, 'Revoke'))))
      : h('p', { class: 'empty' }, 'No app passwords yet.'));
  };
  main.append(
    h('form', {
      class: 'inline-form',
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          const p = await post('/me/app-passwords', { name: name.value.trim() });
          name.value = '';
          clear(made,
            h('p', {}, `“${p.name}”: enter this password in the app (it will not be shown again).`),
            h('dl', { class: 'app-settings' },
              h('dt', {}, 'Password'), h('dd', {}, h('code', { id: 'app-password' }, p.password), ' ',
                h('button', { type: 'button', class: 'small-btn', onclick: () => copyText(p.password, 'Password') }, 'Copy')),
              h('dt', {}, 'API key'), h('dd', {}, h('code', { id: 'app-api-key' }, p.api_key), ' ',
                h('button', { type: 'button', class: 'small-btn', onclick: () => copyText(p.api_key, 'API key') }, 'Copy'))));
          draw();
        } catch (err) {
          toast(errorText(err), 'error');
        }
      },
    }, h('label', { for: 'app-name' }, 'New app password for'), name, h('button', { type: 'submit', class: 'primary-btn' }, 'Make')),
    made,
    h('h2', {}, 'Your app passwords'),
    list,
  );
  await draw();
}
