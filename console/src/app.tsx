// The console's shell: sign-in gate, left navigation, header (who you are, store version) and
// the page for the current hash route.
import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { ApiError, get, getToken, handleUnauthorized, setToken } from './api/client';
import type { Health, WhoAmI } from './api/types';
import { JobToasts } from './components/job-progress';
import { Loading } from './components/page';
import { AgentsPage } from './pages/agents-page';
import { AlarmsPage } from './pages/alarms-page';
import { ArchivePage } from './pages/archive-page';
import { FleetPage } from './pages/fleet-page';
import { GraphPage } from './pages/graph-page';
import { GraphsPage } from './pages/graphs-page';
import { JobsPage } from './pages/jobs-page';
import { MetricsPage } from './pages/metrics-page';
import { SignInPage } from './pages/sign-in-page';
import { StreamsPage } from './pages/streams-page';
import { TailPage } from './pages/tail-page';
import { href, takeTokenFromHash, useRoute, type Route } from './router';
import { SessionContext, type Session } from './session';

interface NavItem {
  page: string;
  label: string;
  icon: ReactNode;
}

const I = (d: string) => (
  <svg viewBox="0 0 20 20" width="18" height="18" aria-hidden>
    <path d={d} fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" strokeLinejoin="round" />
  </svg>
);

const NAV: { group: string; items: NavItem[] }[] = [
  {
    group: 'Provision',
    items: [
      { page: 'streams', label: 'Streams', icon: I('M3 5h14M3 10h14M3 15h9') },
      { page: 'graphs', label: 'Graphs', icon: I('M5 4.5a1.5 1.5 0 1 0 0 .01M5 6v8M5 15.5a1.5 1.5 0 1 0 0 .01M15 9.5a1.5 1.5 0 1 0 0 .01M6.5 5c5 0 7 1.5 7 4M6.5 15c5 0 7-1.5 7-4.5') },
      { page: 'agents', label: 'Agents', icon: I('M4 4h5v5H4zM11 4h5v5h-5zM4 11h5v5H4zM11 11h5v5h-5z') },
    ],
  },
  {
    group: 'Observe',
    items: [
      { page: 'tail', label: 'Live tail', icon: I('M3 6l4 4-4 4M9 15h8') },
      { page: 'archive', label: 'Archive', icon: I('M3 4h14v4H3zM4 8v8h12V8M8 11h4') },
      { page: 'metrics', label: 'Metrics', icon: I('M3 16l4-6 3 3 4-7 3 4') },
      { page: 'alarms', label: 'Alarms', icon: I('M10 3a5 5 0 0 1 5 5v3l1.5 3h-13L5 11V8a5 5 0 0 1 5-5zM8 16a2 2 0 0 0 4 0') },
    ],
  },
  {
    group: 'Operate',
    items: [
      { page: 'fleet', label: 'Fleet', icon: I('M3 4h14v5H3zM3 11h14v5H3zM6 6.5h.01M6 13.5h.01') },
      { page: 'jobs', label: 'Jobs', icon: I('M4 5h12M4 10h12M4 15h7M15 13l1.5 1.5L19 12') },
    ],
  },
];

export function App() {
  const [token, setTok] = useState<string | null>(() => takeTokenFromHash() ?? getToken());
  const [who, setWho] = useState<WhoAmI | null>(null);
  const [authError, setAuthError] = useState<string | null>(null);
  const [version, setVersion] = useState<number | null>(null);
  const route = useRoute();

  const signOut = useCallback(() => {
    setToken(null);
    setTok(null);
    setWho(null);
  }, []);

  // A sign-in link opened while the console is already open only changes the hash.
  useEffect(() => {
    const on = () => {
      const t = takeTokenFromHash();
      if (t) {
        setWho(null);
        setTok(t);
      }
    };
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);

  useEffect(() => handleUnauthorized(() => {
    setAuthError('Your token was not accepted (it may have been revoked). Sign in again.');
    signOut();
  }), [signOut]);

  useEffect(() => {
    if (!token) return;
    setToken(token);
    let live = true;
    get<WhoAmI>('whoami')
      .then((w) => live && (setWho(w), setAuthError(null)))
      .catch((err: ApiError) => {
        if (!live) return;
        setAuthError(err.status === 401 ? 'That token was not accepted. Check it and try again.' : err.message);
        if (err.status === 401) signOut();
      });
    return () => {
      live = false;
    };
  }, [token, signOut]);

  // Store version in the header: follows every commit, from anywhere.
  useEffect(() => {
    if (!who) return;
    let live = true;
    const poll = () =>
      get<Health>('health')
        .then((h) => live && setVersion(h.version))
        .catch(() => undefined);
    void poll();
    const t = setInterval(poll, 1000);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [who]);

  if (!token || !who) {
    if (token && !authError) return <Loading label="Signing in…" />;
    return <SignInPage error={authError} onSignIn={(t) => (setAuthError(null), setTok(t))} />;
  }

  const isAdmin = who.scope === 'admin';
  const session: Session = { scope: who.scope, isAdmin, provider: isAdmin ? null : (who.scope as { provider: string }).provider, version, signOut };
  return (
    <SessionContext.Provider value={session}>
      <div className="shell">
        <nav className="sidebar" aria-label="Main">
          <a className="brand" href={href('streams')}>
            <span className="brand-mark">
              <svg viewBox="0 0 16 16" width="16" height="16" aria-hidden>
                <path d="M4 3v10h8" stroke="white" strokeWidth="2.2" fill="none" strokeLinecap="round" strokeLinejoin="round" />
              </svg>
            </span>
            <span className="brand-name">logFS</span>
            <span className="brand-sub">console</span>
          </a>
          {NAV.map((g) => (
            <div key={g.group} className="nav-group">
              <div className="nav-group-label">{g.group}</div>
              {g.items.map((it) => (
                <a key={it.page} href={href(it.page)} className={`nav-item ${route.page === it.page ? 'nav-active' : ''}`} aria-current={route.page === it.page ? 'page' : undefined}>
                  {it.icon}
                  <span>{it.label}</span>
                </a>
              ))}
            </div>
          ))}
          <div className="sidebar-foot">
            <a href="api/v1/openapi.json" target="_blank" rel="noreferrer">
              API reference
            </a>
          </div>
        </nav>
        <div className="main">
          <header className="topbar">
            <div className="topbar-title">{titleOf(route)}</div>
            <div className="topbar-right">
              <span className="chip" title="Store version: every change commits a new one">
                <span className="chip-label">store</span> v{version ?? '…'}
              </span>
              <span className="chip chip-user" data-testid="whoami">
                <span className={`avatar ${isAdmin ? 'avatar-admin' : ''}`}>{isAdmin ? 'A' : (session.provider ?? '?').slice(0, 1).toUpperCase()}</span>
                {isAdmin ? 'admin' : session.provider}
                {who.name && who.name !== (isAdmin ? 'admin' : session.provider) && <span className="chip-label">· {who.name}</span>}
              </span>
              <button className="btn btn-ghost btn-small" onClick={signOut}>
                Sign out
              </button>
            </div>
          </header>
          <main className="content">
            {/* A new key per page and item: no state (or stale data) carries over between them. */}
            <PageFor key={`${route.page}/${route.parts[0] ?? ''}`} route={route} />
          </main>
        </div>
        <JobToasts />
      </div>
    </SessionContext.Provider>
  );
}

function titleOf(route: Route): string {
  for (const g of NAV) for (const it of g.items) if (it.page === route.page) return `${g.group} / ${it.label}`;
  return '';
}

function PageFor({ route }: { route: Route }) {
  switch (route.page) {
    case 'streams':
      return <StreamsPage />;
    case 'graphs':
      if (route.parts[0] === '+new') return <GraphPage name={null} route={route} />;
      return route.parts[0] ? <GraphPage name={route.parts[0]} route={route} /> : <GraphsPage />;
    case 'agents':
      return <AgentsPage />;
    case 'tail':
      return <TailPage route={route} />;
    case 'archive':
      return <ArchivePage route={route} />;
    case 'metrics':
      return <MetricsPage route={route} />;
    case 'alarms':
      return <AlarmsPage />;
    case 'fleet':
      return <FleetPage />;
    case 'jobs':
      return <JobsPage route={route} />;
    default:
      return <StreamsPage />;
  }
}
