// Building DOM without innerHTML: text always goes in as text, so nothing from the API is parsed as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value') el.value = value;
    else if (key === 'checked') el.checked = Boolean(value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function formatTime(ms) {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const total = Math.floor(ms / 1000);
  const m = Math.floor(total / 60);
  const s = String(total % 60).padStart(2, '0');
  return `${m}:${s}`;
}

let toastTimer = null;
export function toast(message, kind = 'info') {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.dataset.kind = kind;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 4000);
}

export function cover(url, label = '') {
  const box = h('div', { class: 'cover', 'aria-hidden': label ? null : 'true' });
  if (url) box.append(h('img', { src: url, alt: label, loading: 'lazy' }));
  return box;
}

export function section(title, ...children) {
  return h('section', { class: 'block' }, h('h2', {}, title), ...children);
}

export function errorText(err) {
  if (err && err.details && err.details.fields) {
    const fields = Object.entries(err.details.fields).map(([k, v]) => `${k}: ${v}`);
    if (fields.length) return `${err.message} (${fields.join('; ')})`;
  }
  return (err && err.message) || 'Something went wrong.';
}

// Copy text; where the clipboard is not allowed, show it selected so the user can copy it by hand.
export async function copyText(text, label) {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${label} copied.`);
  } catch {
    const input = h('input', { class: 'copy-field', readonly: true, value: text, 'aria-label': label });
    const el = document.getElementById('toast');
    clear(el, h('span', {}, `${label}: `), input);
    el.classList.add('show');
    input.select();
  }
}
