/**
 * HttpKmsProvider: a customer-managed key held in an external KMS reached over HTTP(S). The
 * protocol is deliberately small (docs/sovereignty-keys.md), so a customer can put it in front of
 * Vault transit, an HSM or a cloud KMS with a thin adapter:
 *
 *   POST   {base}/v1/keys                  {label}                      → 201 {keyId}
 *   POST   {base}/v1/keys/{keyId}/wrap     {plaintext, aad} (base64)    → 200 {ciphertext}
 *   POST   {base}/v1/keys/{keyId}/unwrap   {ciphertext, aad} (base64)   → 200 {plaintext}
 *   DELETE {base}/v1/keys/{keyId}                                       → 204 (404: already gone)
 *   GET    {base}/v1/keys/{keyId}                                       → 200 {keyId} or 404
 *
 * Authorization: Bearer <token> when a token is configured. 404 means the key does not exist.
 */
import { parseJson } from '../../model/json.js';
import { KmsMessageSchema } from '../stored-json.js';
import { KeyNotFoundError, type KeyProvider, KeyProviderError } from './provider.js';

export class HttpKmsProvider implements KeyProvider {
  readonly kind = 'http-kms';
  private readonly base: string;

  constructor(
    readonly name: string,
    baseUrl: string,
    private readonly token?: string,
    private readonly timeoutMs = 10_000,
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  private async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new KeyProviderError(`key provider ${this.name} is unreachable: ${err instanceof Error ? err.message : String(err)}`);
    }
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? parseJson(text, KmsMessageSchema, `key provider ${this.name}'s answer`) : {};
    } catch {
      // A non-JSON (or non-object) answer is reported by status below.
    }
    return { status: res.status, json };
  }

  private fail(op: string, keyId: string, r: { status: number; json: Record<string, unknown> }): never {
    if (r.status === 404) throw new KeyNotFoundError(keyId);
    throw new KeyProviderError(
      `key provider ${this.name} refused ${op} for key ${keyId}: HTTP ${r.status} ${typeof r.json.error === 'string' ? r.json.error : ''}`.trim(),
    );
  }

  async createKey(label: string): Promise<string> {
    const r = await this.call('POST', '/v1/keys', { label });
    if (r.status !== 201 || typeof r.json.keyId !== 'string') this.fail('createKey', '(new)', r);
    return r.json.keyId;
  }

  async wrap(keyId: string, plaintext: Buffer, aad: Buffer): Promise<Buffer> {
    const r = await this.call('POST', `/v1/keys/${encodeURIComponent(keyId)}/wrap`, {
      plaintext: plaintext.toString('base64'),
      aad: aad.toString('base64'),
    });
    if (r.status !== 200 || typeof r.json.ciphertext !== 'string') this.fail('wrap', keyId, r);
    return Buffer.from(r.json.ciphertext, 'base64');
  }

  async unwrap(keyId: string, wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    const r = await this.call('POST', `/v1/keys/${encodeURIComponent(keyId)}/unwrap`, {
      ciphertext: wrapped.toString('base64'),
      aad: aad.toString('base64'),
    });
    if (r.status !== 200 || typeof r.json.plaintext !== 'string') this.fail('unwrap', keyId, r);
    return Buffer.from(r.json.plaintext, 'base64');
  }

  async destroy(keyId: string): Promise<void> {
    const r = await this.call('DELETE', `/v1/keys/${encodeURIComponent(keyId)}`);
    if (r.status !== 204 && r.status !== 404) this.fail('destroy', keyId, r);
  }

  async hasKey(keyId: string): Promise<boolean> {
    const r = await this.call('GET', `/v1/keys/${encodeURIComponent(keyId)}`);
    if (r.status === 404) return false;
    if (r.status !== 200) this.fail('hasKey', keyId, r);
    return true;
  }
}
