// Hash routes (`#/graphs/web`), so the service serves one index.html for every page. A link the
// CLI prints, `#token=…`, signs in and is then replaced by the streams page.
import { useEffect, useState } from 'react';

export interface Route {
  page: string;
  parts: string[];
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const [pathPart = '', queryPart = ''] = raw.split('?');
  const parts = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] ?? 'streams', parts: parts.slice(1), query: new URLSearchParams(queryPart) };
}

export function href(...parts: string[]): string {
  return '#/' + parts.map(encodeURIComponent).join('/');
}

export function navigate(to: string): void {
  window.location.hash = to.replace(/^#/, '');
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(window.location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Takes `#token=…` off the URL (so it is not left in the history) and returns it. */
export function takeTokenFromHash(): string | null {
  const m = /^#token=([^&]+)/.exec(window.location.hash);
  if (!m?.[1]) return null;
  history.replaceState(null, '', window.location.pathname + window.location.search + '#/streams');
  window.dispatchEvent(new HashChangeEvent('hashchange'));
  return decodeURIComponent(m[1]);
}
