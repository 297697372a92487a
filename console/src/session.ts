// Who is signed in, shared with every page (admins see the provider column and field).
import { createContext, useContext } from 'react';
import type { Scope } from './api/types';

export interface Session {
  scope: Scope;
  isAdmin: boolean;
  provider: string | null;
  /** Store version from /health, refreshed in the header. */
  version: number | null;
  signOut: () => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionContext');
  return s;
}
