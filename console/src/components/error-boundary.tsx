/** ErrorBoundary: a crashing view shows its error and a way back instead of a blank page. */
import type { ComponentChildren } from 'preact';
import { useErrorBoundary } from 'preact/hooks';

export function ErrorBoundary({ children }: { children: ComponentChildren }) {
  const [error, reset] = useErrorBoundary((err: unknown) => console.warn('view failed:', err));
  if (error) {
    return (
      <div class="panel" role="alert">
        <h2>This view failed</h2>
        <p>{error instanceof Error ? error.message : String(error)}</p>
        <button type="button" onClick={reset}>
          Try again
        </button>
      </div>
    );
  }
  return <>{children}</>;
}
