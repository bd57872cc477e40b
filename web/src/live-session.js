// The signed-in console's one live connection (live.js) and the hooks pages use with it. The
// frame starts it after sign-in and stops it on sign-out; pages subscribe to pushes and keep
// polling only while the socket is down (useLivePoll).
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from './api.js';
import { createLive } from './live.js';
import { usePoll } from './poll.js';

let live = null;

/** The app's live connection (created on first use, started by startLive). */
export function getLive() {
  if (!live) {
    live = createLive({ getToken: api.currentToken });
    // A refreshed access token extends the socket's authentication before the old one expires.
    api.onToken(() => live.reauth());
  }
  return live;
}

export const startLive = () => getLive().start();
export const stopLive = () => getLive().stop();

/** Calls fn for every pushed message of `type` while mounted. */
export function useLive(type, fn) {
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => getLive().on(type, (m) => latest.current(m)), [type]);
}

/** True while the socket is up and authenticated. */
export function useLiveUp() {
  const l = getLive();
  const [up, setUp] = useState(l.status === 'live');
  useEffect(() => {
    setUp(l.status === 'live');
    return l.onStatus((s) => setUp(s === 'live'));
  }, []);
  return up;
}

/**
 * Calls fn at once, again whenever the socket comes up or goes down (to catch up on what it
 * missed), and every `ms` only while the socket is down: the fallback for live pushes.
 */
export function useLivePoll(fn, ms, deps = []) {
  const up = useLiveUp();
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    latest.current();
  }, [up, ...deps]);
  usePoll(fn, up ? 0 : ms, deps, { immediate: false });
  // The server dropped pushes for us (its bus lane overflowed): reload like after a reconnect.
  useLive('resync', () => latest.current());
  return up;
}
