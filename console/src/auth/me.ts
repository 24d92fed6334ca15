/** The signed-in user, shared with every view (role decides what is shown). */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { User } from '../api/types.js';

export const MeContext = createContext<User | null>(null);

export function useMe(): User {
  const me = useContext(MeContext);
  if (!me) throw new Error('useMe outside a signed-in session');
  return me;
}
