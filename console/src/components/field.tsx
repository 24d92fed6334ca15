/**
 * The console's forms: a titled form that submits without reloading the page, labelled controls (a
 * text-like input or a select of plain string options, each in the `field` grid cell with its label
 * bound by id: what tests and screen readers use), and the closing row with the submit button.
 */
import type { ComponentChildren, JSX } from 'preact';

type InputAttrs = Omit<JSX.InputHTMLAttributes<HTMLInputElement>, 'id' | 'value' | 'onInput'>;

export function TextField({
  id,
  label,
  value,
  onValue,
  ...attrs
}: { id: string; label: string; value: string; onValue: (value: string) => void } & InputAttrs) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} value={value} onInput={(e) => onValue(e.currentTarget.value)} {...attrs} />
    </div>
  );
}

export function SelectField({
  id,
  label,
  value,
  options,
  onValue,
  blank,
}: {
  id: string;
  label: string;
  value: string | undefined;
  options: readonly string[];
  onValue: (value: string) => void;
  /** The label of an empty first choice, when there is one. */
  blank?: string;
}) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onValue(e.currentTarget.value)}>
        {blank !== undefined && <option value="">{blank}</option>}
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </div>
  );
}

/** The form's closing row: any extra buttons, then the primary submit button (disabled while busy). */
export function SubmitRow({ label, busy, children }: { label: string; busy: boolean; children?: JSX.Element }) {
  return (
    <div class="actions">
      {children}
      <button type="submit" class="primary" disabled={busy}>
        {label}
      </button>
    </div>
  );
}

/** A form titled by its h3 (id), validated by the API rather than the browser; submit never reloads the page. */
export function Form({
  id,
  title,
  kind,
  onSubmit,
  children,
}: {
  id: string;
  title: string;
  /** The extra class that lays it out (inline-form, secret-form, ...). */
  kind: string;
  onSubmit: () => Promise<void>;
  children: ComponentChildren;
}) {
  return (
    <form
      class={`form ${kind}`}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void onSubmit();
      }}
      aria-labelledby={id}
    >
      <h3 id={id}>{title}</h3>
      {children}
    </form>
  );
}
