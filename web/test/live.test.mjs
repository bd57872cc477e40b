// The live client (src/live.js) against a fake WebSocket and fake timers: auth as the first
// message, resubscribe after reconnect, back-off with jitter, re-auth before expiry, fallback flag.
// Run: cd web && npm test
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, createLive, liveUrl } from '../src/live.js';

class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.readyState = 0;
    FakeSocket.all.push(this);
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  close(code) {
    this.readyState = 3;
    this.closedWith = code;
  }
  // Test side.
  open() {
    this.readyState = 1;
    this.onopen();
  }
  receive(message) {
    this.onmessage({ data: JSON.stringify(message) });
  }
  drop(code) {
    this.readyState = 3;
    this.onclose({ code });
  }
}

function harness(opts = {}) {
  FakeSocket.all = [];
  const timers = [];
  let clock = 1_000_000;
  let token = 'tok-1';
  const live = createLive({
    url: 'wss://example/api/ws',
    getToken: () => token,
    WebSocketImpl: FakeSocket,
    setTimer: (fn, ms) => {
      const t = { fn, at: clock + ms, ms };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      const i = timers.indexOf(t);
      if (i >= 0) timers.splice(i, 1);
    },
    now: () => clock,
    random: () => 0.5,
    ...opts,
  });
  return {
    live,
    timers,
    socket: () => FakeSocket.all[FakeSocket.all.length - 1],
    sockets: () => FakeSocket.all,
    setToken: (t) => (token = t),
    advance(ms) {
      clock += ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const due = timers[0];
        if (!due || due.at > clock) break;
        timers.shift();
        due.fn();
      }
    },
  };
}

test('the token is the first message, never in the URL', () => {
  const h = harness();
  h.live.start();
  const s = h.socket();
  assert.equal(s.url, 'wss://example/api/ws');
  assert.ok(!s.url.includes('tok-1'));
  assert.equal(h.live.status, 'connecting');
  assert.equal(h.live.fallback, true);
  s.open();
  assert.deepEqual(s.sent[0], { type: 'auth', token: 'tok-1' });
  s.receive({ type: 'authenticated', userId: 'u', expiresAt: 1_000_000 + 900_000 });
  assert.equal(h.live.status, 'live');
  assert.equal(h.live.fallback, false);
});

test('messages reach listeners by type and "*"', () => {
  const h = harness();
  const got = [];
  const all = [];
  h.live.on('connectivity', (m) => got.push(m));
  h.live.on('*', (m) => all.push(m.type));
  h.live.start();
  h.socket().open();
  h.socket().receive({ type: 'authenticated', expiresAt: 2e6 });
  h.socket().receive({ type: 'connectivity', deviceId: 'SN1', connected: true });
  h.socket().receive({ type: 'event', deviceId: 'SN1' });
  h.socket().onmessage({ data: 'not json' });
  assert.equal(got.length, 1);
  assert.deepEqual(all, ['authenticated', 'connectivity', 'event']);
});

test('subscriptions are ref-counted and resent after a reconnect', () => {
  const h = harness();
  h.live.start();
  h.socket().open();
  h.socket().receive({ type: 'authenticated', expiresAt: 2e6 });
  const a = h.live.subscribe('SN1');
  const b = h.live.subscribe('SN1');
  assert.deepEqual(h.socket().sent.slice(1), [{ type: 'subscribe', deviceId: 'SN1' }]);
  a();
  a();
  assert.equal(h.socket().sent.length, 2);
  h.socket().drop(1006);
  assert.equal(h.live.status, 'down');
  assert.equal(h.live.fallback, true);
  h.advance(1000); // attempt 0: 1000 ms * (0.5 + 0.25)
  const second = h.socket();
  assert.equal(h.sockets().length, 2);
  second.open();
  second.receive({ type: 'authenticated', expiresAt: 2e6 });
  assert.deepEqual(second.sent, [
    { type: 'auth', token: 'tok-1' },
    { type: 'subscribe', deviceId: 'SN1' },
  ]);
  b();
  assert.deepEqual(second.sent[2], { type: 'unsubscribe', deviceId: 'SN1' });
});

test('reconnects back off exponentially with jitter, reset once authenticated', () => {
  assert.equal(backoffDelay(0, { initialMs: 1000, maxMs: 30000 }, () => 0), 500);
  assert.equal(backoffDelay(0, { initialMs: 1000, maxMs: 30000 }, () => 1), 1000);
  assert.equal(backoffDelay(3, { initialMs: 1000, maxMs: 30000 }, () => 1), 8000);
  assert.equal(backoffDelay(30, { initialMs: 1000, maxMs: 30000 }, () => 1), 30000);
  const h = harness();
  h.live.start();
  const delays = [];
  for (let i = 0; i < 4; i++) {
    h.socket().drop(1006);
    delays.push(h.timers[0].ms);
    h.advance(h.timers[0].ms);
  }
  assert.deepEqual(delays, [750, 1500, 3000, 6000]);
  h.socket().open();
  h.socket().receive({ type: 'authenticated', expiresAt: 2e6 });
  h.socket().drop(1006);
  assert.equal(h.timers.find((t) => t.ms < 100000).ms, 750);
});

test('a newer token is sent before expiry; an expired close reconnects at once', () => {
  const h = harness();
  h.live.start();
  h.socket().open();
  h.socket().receive({ type: 'authenticated', expiresAt: 1_000_000 + 120_000 });
  h.setToken('tok-2');
  h.advance(90_000); // 30 s ahead of expiry
  assert.deepEqual(h.socket().sent.at(-1), { type: 'auth', token: 'tok-2' });
  h.socket().receive({ type: 'authenticated', expiresAt: 1_000_000 + 999_000 });
  // Expired anyway (say the refresh failed): reconnect without waiting, with the current token.
  h.setToken('tok-3');
  h.socket().drop(4002);
  h.advance(0);
  assert.equal(h.sockets().length, 2);
  h.socket().open();
  assert.deepEqual(h.socket().sent[0], { type: 'auth', token: 'tok-3' });
});

test('no token: no socket until there is one; stop() ends everything', () => {
  const h = harness();
  h.setToken(null);
  h.live.start();
  assert.equal(h.sockets().length, 0);
  assert.equal(h.live.fallback, true);
  h.setToken('tok-1');
  h.advance(60_000);
  assert.equal(h.sockets().length, 1);
  h.live.stop();
  assert.equal(h.socket().closedWith, 1000);
  assert.equal(h.timers.length, 0);
  assert.equal(h.live.status, 'down');
});

test('liveUrl follows the page', () => {
  assert.equal(liveUrl({ protocol: 'https:', host: 'h:8443' }), 'wss://h:8443/api/ws');
  assert.equal(liveUrl({ protocol: 'http:', host: 'h' }), 'ws://h/api/ws');
});
