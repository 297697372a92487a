// Coloured state labels. One palette for every state the console shows, so "active" is always
// green and "failed" always red, whichever page it is on.
import type { ReactNode } from 'react';

export type Tone = 'ok' | 'warn' | 'bad' | 'info' | 'muted' | 'accent';

const TONES: Record<string, Tone> = {
  active: 'ok',
  running: 'ok',
  alive: 'ok',
  valid: 'ok',
  resolved: 'muted',
  pending: 'muted',
  validating: 'info',
  committing: 'info',
  propagating: 'info',
  starting: 'info',
  stabilising: 'info',
  failed: 'bad',
  firing: 'bad',
  down: 'bad',
  stale: 'warn',
  paused: 'warn',
};

export function toneOf(state: string): Tone {
  return TONES[state] ?? 'muted';
}

export function Badge({ tone = 'muted', children, dot = false, title }: { tone?: Tone; children: ReactNode; dot?: boolean; title?: string }) {
  return (
    <span className={`badge badge-${tone}`} title={title}>
      {dot && <span className="badge-dot" />}
      {children}
    </span>
  );
}

export function StateBadge({ state, title }: { state: string; title?: string }) {
  const tone = toneOf(state);
  return (
    <Badge tone={tone} dot title={title}>
      {state}
    </Badge>
  );
}
