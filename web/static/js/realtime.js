// Socket.IO: this tab is one device of the user; server events are re-dispatched on `events`.
// The connection uses the session cookie (same origin) and reconnects by itself.

export const events = new EventTarget();
let socket = null;
let connected = false;

function browserName() {
  const ua = navigator.userAgent;
  if (/Edg\//.test(ua)) return 'Edge';
  if (/Firefox\//.test(ua)) return 'Firefox';
  if (/Chrome\//.test(ua)) return 'Chrome';
  if (/Safari\//.test(ua)) return 'Safari';
  return 'Browser';
}

function makeDeviceId() {
  // Per tab (sessionStorage): two tabs are two devices, and a reload keeps its identity.
  let id = sessionStorage.getItem('hs-device-id');
  if (!id) {
    const random = Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, '0'));
    id = `web-${browserName()}-${random.join('')}`;
    sessionStorage.setItem('hs-device-id', id);
  }
  return id;
}

export const deviceId = makeDeviceId();

export function deviceLabel(id) {
  if (!id) return 'no device';
  if (id === deviceId) return 'this browser';
  const m = /^web-(\w+)-/.exec(id);
  return m ? `${m[1]} (${id.slice(-6)})` : id;
}

export function isConnected() {
  return connected;
}

function emit(name, detail) {
  events.dispatchEvent(new CustomEvent(name, { detail }));
}

export async function connect() {
  if (socket) return;
  let io;
  try {
    ({ io } = await import('/static/vendor/socket.io-client/socket.io.esm.min.js'));
  } catch {
    emit('status', { connected: false, missing: true });
    return;
  }
  // WebSocket first: its handshake and messages ride one connection, so they reach one server process
  // even where nothing keeps a client on one (several `serve` processes on a port, replicas behind
  // round-robin nginx). Long polling, which needs that, is only the fallback.
  socket = io({
    path: '/socket.io',
    auth: { device_id: deviceId },
    withCredentials: true,
    transports: ['websocket', 'polling'],
    tryAllTransports: true,
  });
  socket.on('connect', () => {
    connected = true;
    emit('status', { connected: true });
  });
  socket.on('disconnect', () => {
    connected = false;
    emit('status', { connected: false });
  });
  socket.on('connect_error', () => emit('status', { connected: false }));
  for (const name of ['playback', 'track', 'library', 'playback:command', 'error']) {
    socket.on(name, (payload) => emit(name, payload));
  }
}

export function disconnect() {
  if (socket) socket.disconnect();
  socket = null;
  connected = false;
}
