// The console's live connection: one WebSocket to /api/ws (protocol in the README, "Live
// updates"). It authenticates with the access token as its first message (never in the URL),
// sends a newer token before the current one expires, re-subscribes after every reconnect,
// reconnects with exponential back-off and jitter, and tells pages through `fallback` whether they
// must keep polling (true whenever the socket is not up and authenticated).
//
//   const live = createLive({ getToken: () => currentToken() });
//   live.start();
//   const off = live.on('connectivity', (m) => ...);   // or '*' for every message
//   const unsub = live.subscribe('SN0001');            // telemetry of one device (ref-counted)
//   live.onStatus((s) => ...);                          // 'connecting' | 'live' | 'down'
//   if (live.fallback) poll();
//
// Everything environment-specific is injectable so the logic is tested in node (test/live.test.mjs).

const CLOSE_UNAUTHENTICATED = 4001;
const CLOSE_TOKEN_EXPIRED = 4002;
const CLOSE_TOO_MANY = 4029;

/** Delay before reconnect attempt `attempt` (0-based): exponential, capped, with 50-100 % jitter. */
export function backoffDelay(attempt, { initialMs = 1000, maxMs = 30000 } = {}, random = Math.random) {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 20));
  return Math.round(base * (0.5 + random() / 2));
}

/** The wss:// URL of /api/ws for a page at `location` (http: pages get ws:). */
export function liveUrl(location = globalThis.location) {
  const scheme = location.protocol === 'http:' ? 'ws:' : 'wss:';
  return `${scheme}//${location.host}/api/ws`;
}

export function createLive({
  url = undefined,
  getToken,
  WebSocketImpl = globalThis.WebSocket,
  setTimer = (fn, ms) => setTimeout(fn, ms),
  clearTimer = (t) => clearTimeout(t),
  now = () => Date.now(),
  random = Math.random,
  backoff = { initialMs: 1000, maxMs: 30000 },
  reauthAheadMs = 30000,
} = {}) {
  const listeners = new Map(); // type -> Set<fn>
  const statusListeners = new Set();
  const subscriptions = new Map(); // deviceId -> count
  let ws = null;
  let status = 'down';
  let running = false;
  let attempt = 0;
  let retryTimer = null;
  let reauthTimer = null;
  let sentToken = null;

  function setStatus(s) {
    if (s === status) return;
    status = s;
    for (const fn of statusListeners) fn(s);
  }

  function emit(message) {
    for (const key of [message.type, '*']) {
      const set = listeners.get(key);
      if (set) for (const fn of set) fn(message);
    }
  }

  function send(message) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(message));
  }

  function scheduleReauth(expiresAt) {
    if (reauthTimer) clearTimer(reauthTimer);
    reauthTimer = null;
    if (!Number.isFinite(expiresAt)) return;
    const delay = Math.max(1000, expiresAt - now() - reauthAheadMs);
    reauthTimer = setTimer(() => {
      reauthTimer = null;
      reauth();
    }, delay);
  }

  /** Sends the current token again if it changed (call after the session refreshed it). */
  function reauth() {
    const token = getToken();
    if (!token || token === sentToken || status !== 'live') return;
    sentToken = token;
    send({ type: 'auth', token });
  }

  function scheduleReconnect(code) {
    if (!running || retryTimer) return;
    // An expired token is replaced at once (the session has a new one); other closes back off.
    const delay = code === CLOSE_TOKEN_EXPIRED && attempt === 0
      ? 0
      : backoffDelay(code === CLOSE_TOO_MANY ? attempt + 3 : attempt, backoff, random);
    attempt += 1;
    retryTimer = setTimer(() => {
      retryTimer = null;
      connect();
    }, delay);
  }

  function connect() {
    if (!running) return;
    const token = getToken();
    if (!token) {
      // Signed out or not yet signed in: nothing to do until a token exists.
      setStatus('down');
      scheduleReconnect(CLOSE_UNAUTHENTICATED);
      return;
    }
    setStatus('connecting');
    let socket;
    try {
      socket = new WebSocketImpl(url || liveUrl());
    } catch {
      setStatus('down');
      scheduleReconnect(0);
      return;
    }
    ws = socket;
    socket.onopen = () => {
      sentToken = token;
      socket.send(JSON.stringify({ type: 'auth', token }));
    };
    socket.onmessage = (ev) => {
      let message;
      try {
        message = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!message || typeof message.type !== 'string') return;
      if (message.type === 'authenticated') {
        const first = status !== 'live';
        attempt = 0;
        setStatus('live');
        scheduleReauth(Number(message.expiresAt));
        if (first) for (const deviceId of subscriptions.keys()) send({ type: 'subscribe', deviceId });
      }
      emit(message);
    };
    socket.onclose = (ev) => {
      if (ws !== socket) return;
      ws = null;
      if (reauthTimer) clearTimer(reauthTimer);
      reauthTimer = null;
      setStatus('down');
      scheduleReconnect(ev && ev.code);
    };
    socket.onerror = () => {
      /* onclose follows */
    };
  }

  return {
    start() {
      if (running) return;
      running = true;
      attempt = 0;
      connect();
    },
    stop() {
      running = false;
      if (retryTimer) clearTimer(retryTimer);
      if (reauthTimer) clearTimer(reauthTimer);
      retryTimer = reauthTimer = null;
      const socket = ws;
      ws = null;
      if (socket) socket.close(1000, 'bye');
      setStatus('down');
    },
    reauth,
    on(type, fn) {
      if (!listeners.has(type)) listeners.set(type, new Set());
      listeners.get(type).add(fn);
      return () => listeners.get(type).delete(fn);
    },
    onStatus(fn) {
      statusListeners.add(fn);
      return () => statusListeners.delete(fn);
    },
    subscribe(deviceId) {
      const n = subscriptions.get(deviceId) || 0;
      subscriptions.set(deviceId, n + 1);
      if (n === 0 && status === 'live') send({ type: 'subscribe', deviceId });
      let done = false;
      return () => {
        if (done) return;
        done = true;
        const left = (subscriptions.get(deviceId) || 1) - 1;
        if (left > 0) {
          subscriptions.set(deviceId, left);
        } else {
          subscriptions.delete(deviceId);
          if (status === 'live') send({ type: 'unsubscribe', deviceId });
        }
      };
    },
    get status() {
      return status;
    },
    /** True while pages must poll: the socket is not up and authenticated. */
    get fallback() {
      return status !== 'live';
    },
  };
}
