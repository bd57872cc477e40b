// Polling hooks shared by the pages. Beats are skipped while the tab is hidden and one happens at
// once when it becomes visible again, so a background tab costs the server nothing.
import { useEffect, useRef } from 'preact/hooks';

/**
 * Calls fn every ms while mounted (ms falsy: not at all). With `immediate` (the default) it also
 * calls fn at once when the poll starts or its deps change.
 */
export function usePoll(fn, ms, deps = [], { immediate = true } = {}) {
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    if (!ms) return undefined;
    const tick = () => {
      if (!document.hidden) latest.current();
    };
    if (immediate) latest.current();
    const t = setInterval(tick, ms);
    document.addEventListener('visibilitychange', tick);
    return () => {
      clearInterval(t);
      document.removeEventListener('visibilitychange', tick);
    };
  }, [...deps, ms]);
}
