/**
 * ConfirmDialog: a modal <dialog> (native focus trap, Escape cancels) asking before an action
 * with consequences, such as draining a node. Optionally asks for a reason recorded in the audit log.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';

interface Props {
  open: boolean;
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  cancelLabel?: string;
  /** Show a free-text "reason" field. */
  askReason?: boolean;
  /** The reason field's label (default: "Reason (recorded in the audit log)"). */
  reasonLabel?: string;
  busy?: boolean;
  error?: string | null;
  onConfirm: (reason: string) => void;
  onCancel: () => void;
}

export function ConfirmDialog(props: Props) {
  const { open, title, children, confirmLabel, cancelLabel = 'Cancel', askReason, busy, error, onConfirm, onCancel } = props;
  const reasonLabel = props.reasonLabel ?? 'Reason (recorded in the audit log)';
  const ref = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  // Unique ids: a view may hold several dialogs (one per pending request, say).
  const uid = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      setReason('');
      d.showModal();
    } else if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={`${uid}-title`}
      onCancel={(e) => {
        e.preventDefault();
        onCancel();
      }}
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          onConfirm(reason.trim());
        }}
      >
        <h2 id={`${uid}-title`}>{title}</h2>
        <div>{children}</div>
        {askReason && (
          <p>
            <label for={`${uid}-reason`}>{reasonLabel}</label>
            <input id={`${uid}-reason`} value={reason} maxLength={500} onInput={(e) => setReason(e.currentTarget.value)} />
          </p>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <div class="actions">
          <button type="button" onClick={onCancel}>
            {cancelLabel}
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
