// Sign in and sign up: the session cookie is set by the server; only the CSRF token is kept, in memory.

import { api, post } from '../api.js';
import { errorText, h } from '../dom.js';

function field(label, attrs) {
  const id = 'f-' + attrs.name;
  return h('div', { class: 'field' }, h('label', { for: id }, label), h('input', { id, ...attrs }));
}

function form(title, fields, submitLabel, onSubmit, footer) {
  const error = h('p', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary-btn' }, submitLabel);
  const el = h('form', {
    class: 'auth-form',
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      button.disabled = true;
      try {
        await onSubmit(Object.fromEntries(new FormData(el)));
      } catch (err) {
        error.textContent = errorText(err);
      } finally {
        button.disabled = false;
      }
    },
  }, h('h1', {}, title), fields, error, button, footer);
  return h('div', { class: 'auth-page' }, el);
}

export function loginView(main, _params, ctx) {
  main.append(form('Sign in', [
    field('Username or email', { name: 'username', autocomplete: 'username', required: true }),
    field('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
  ], 'Sign in', async (data) => {
    const session = await post('/auth/session', { username: data.username, password: data.password });
    await ctx.signedIn(session);
  }, h('p', {}, 'New here? ', h('a', { href: '/signup' }, 'Create an account'))));
}

export function signupView(main, _params, ctx) {
  main.append(form('Create an account', [
    field('Username', { name: 'username', autocomplete: 'username', required: true, pattern: '[A-Za-z0-9_.\\-]+' }),
    field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }),
    field('Password', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 }),
  ], 'Sign up', async (data) => {
    await api('POST', '/auth/register', { body: data });
    const session = await post('/auth/session', { username: data.username, password: data.password });
    await ctx.signedIn(session);
  }, h('p', {}, 'Have an account? ', h('a', { href: '/login' }, 'Sign in'))));
}
