/**
 * Authenticated encryption for the key hierarchy: AES-256-GCM from node:crypto, a fresh random
 * 96-bit nonce per message, and associated data (AAD) that binds each ciphertext to where it
 * belongs (organisation, object, key version), so a ciphertext moved elsewhere fails to open.
 *
 * Sealed format (documented for independent tools): 1 byte format version (1) | 12 bytes nonce |
 * 16 bytes GCM tag | ciphertext.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const FORMAT = 1;
const NONCE = 12;
const TAG = 16;
export const KEY_BYTES = 32;

/** DecryptError: the ciphertext does not open with this key and AAD (wrong key, wrong AAD, tampered). */
export class DecryptError extends Error {
  constructor(message = 'decryption failed: wrong key, wrong context, or tampered ciphertext') {
    super(message);
    this.name = 'DecryptError';
  }
}

export function newKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  if (key.length !== KEY_BYTES) throw new Error('AES-256-GCM needs a 32-byte key');
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([FORMAT]), nonce, cipher.getAuthTag(), body]);
}

export function open(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (key.length !== KEY_BYTES) throw new Error('AES-256-GCM needs a 32-byte key');
  if (sealed.length < 1 + NONCE + TAG || sealed[0] !== FORMAT) throw new DecryptError('not a sealed gigafab ciphertext');
  const nonce = sealed.subarray(1, 1 + NONCE);
  const tag = sealed.subarray(1 + NONCE, 1 + NONCE + TAG);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(sealed.subarray(1 + NONCE + TAG)), decipher.final()]);
  } catch {
    throw new DecryptError();
  }
}

/** aad builds associated data from labelled parts; the separator cannot occur in ids (slugs, hex). */
export function aad(purpose: string, ...parts: (string | number)[]): Buffer {
  return Buffer.from(['gigafab', purpose, 'v1', ...parts.map(String)].join('\u001f'));
}
