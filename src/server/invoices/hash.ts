/** sha256Hex: the hex SHA-256 of a text (an invoice's or credit note's canonical JSON). */
import { createHash } from 'node:crypto';

export const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');
