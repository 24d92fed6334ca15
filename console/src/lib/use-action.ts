/**
 * useAction and useConfirm: the busy flag and problem sentence of one user action (a form's submit,
 * a confirmed change), so every form and confirmation dialog reports a failed call the same way:
 * with the API's own sentence, cleared when the action is tried again or the dialog is dismissed.
 */
import { useState } from 'preact/hooks';
import { attempt } from './problem.js';

export interface Action {
  busy: boolean;
  error: string | null;
  setError: (message: string | null) => void;
  /** Runs call; true when it succeeded, otherwise its problem sentence is in `error`. */
  run: (call: () => Promise<unknown>) => Promise<boolean>;
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (call: () => Promise<unknown>) =>
    (await attempt(
      async () => {
        await call();
        return true;
      },
      setError,
      setBusy,
    )) === true;
  return { busy, error, setError, run };
}

export interface Confirm<T> {
  /** What the dialog asks about; null while it is closed. */
  subject: T | null;
  ask: (subject: T) => void;
  /** ConfirmDialog's open/busy/error/onCancel: cancelling closes it and forgets the error. */
  dialog: { open: boolean; busy: boolean; error: string | null; onCancel: () => void };
  /** Runs call on the subject; when it succeeds, closes the dialog and then calls `then`. */
  confirm: (call: (subject: T) => Promise<unknown>, then?: () => void) => Promise<void>;
}

export function useConfirm<T>(): Confirm<T> {
  const [subject, setSubject] = useState<T | null>(null);
  const { busy, error, setError, run } = useAction();
  return {
    subject,
    ask: setSubject,
    dialog: {
      open: subject !== null,
      busy,
      error,
      onCancel: () => {
        setSubject(null);
        setError(null);
      },
    },
    confirm: async (call, then) => {
      if (subject === null) return;
      if (await run(() => call(subject))) {
        setSubject(null);
        then?.();
      }
    },
  };
}
