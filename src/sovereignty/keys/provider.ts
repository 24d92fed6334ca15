/**
 * KeyProvider: where an organisation's key-encryption keys (KEKs) live. gigafab never stores a KEK
 * itself; it asks the provider to wrap and unwrap data keys under a key id, and to destroy a key
 * (crypto-shredding). The embedded default is a local file provider; an external KMS (the
 * customer's own, "customer-managed key") plugs in through the same four calls.
 */
export interface KeyProvider {
  /** Provider name as configured (`local`, or the name given to an external KMS). */
  readonly name: string;
  /** Kind of provider, for reports (`local-file`, `http-kms`). */
  readonly kind: string;
  /** createKey makes a new 256-bit key and returns its id; the key material never leaves the provider. */
  createKey(label: string): Promise<string>;
  /** wrap encrypts a small secret (a data key) under `keyId`, bound to `aad`. */
  wrap(keyId: string, plaintext: Buffer, aad: Buffer): Promise<Buffer>;
  /** unwrap reverses wrap; fails with KeyNotFoundError once the key is destroyed. */
  unwrap(keyId: string, wrapped: Buffer, aad: Buffer): Promise<Buffer>;
  /** destroy deletes the key for good; destroying an unknown key succeeds (erasure is retried). */
  destroy(keyId: string): Promise<void>;
  /** hasKey: whether the provider still holds the key (for reports and tests). */
  hasKey(keyId: string): Promise<boolean>;
}

export class KeyNotFoundError extends Error {
  constructor(readonly keyId: string) {
    super(`key ${keyId} does not exist at the key provider (destroyed or never created)`);
    this.name = 'KeyNotFoundError';
  }
}

/** KeyProviderError: the provider could not be reached or refused; never carries key material. */
export class KeyProviderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyProviderError';
  }
}
