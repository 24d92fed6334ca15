/** ErrorLine: a plain, announced error sentence (role=alert), or nothing. */
export function ErrorLine({ message, id }: { message: string | null | undefined; id?: string }) {
  if (!message) return null;
  return (
    <p class="error" role="alert" id={id}>
      {message}
    </p>
  );
}
