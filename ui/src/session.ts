import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Role } from './api.js';

export interface Session {
  name: string;
  role: Role;
  /** The data plane's URL as the gateway knows its listen address (GET /whoami). */
  dataPlane?: string;
}

export const SessionContext = createContext<Session>({ name: '', role: 'viewer' });

export function useSession(): Session {
  return useContext(SessionContext);
}

/** Whether this key may change things (the Admin API refuses a viewer's writes anyway). */
export function useCanWrite(): boolean {
  return useSession().role === 'admin';
}
