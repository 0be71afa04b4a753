// History routing: links inside the app change the view without reloading the page.

const routes = [];
let renderer = null;

export function route(pattern, view) {
  const keys = [];
  const source = pattern.replace(/:(\w+)/g, (_, key) => {
    keys.push(key);
    return '([^/]+)';
  });
  routes.push({ regex: new RegExp('^' + source + '/?$'), keys, view });
}

// The route of a path and its decoded parameters; null when none fits, or when a parameter is not
// valid percent-encoding (a malformed URL is "not found", never an exception that leaves the old view).
export function match(pathname) {
  for (const r of routes) {
    const m = r.regex.exec(pathname);
    if (m) {
      const params = {};
      try {
        r.keys.forEach((k, i) => (params[k] = decodeURIComponent(m[i + 1])));
      } catch {
        return null;
      }
      return { view: r.view, params };
    }
  }
  return null;
}

export function onNavigate(fn) {
  renderer = fn;
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  return renderer && renderer(location);
}

export function startRouter() {
  window.addEventListener('popstate', () => renderer && renderer(location));
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download') || a.dataset.external !== undefined) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/static/')) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
  });
}
