/** Table type of migration 030 (SSH public keys in a user's profile). */

export interface UserSshKeysTable {
  id: string;
  user_id: string;
  /** The user's organisation (null for an operator); audit records are scoped to it. */
  org_id: string | null;
  name: string;
  /** ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, … */
  key_type: string;
  /** `<type> <base64>` (no comment). */
  public_key: string;
  /** `SHA256:<base64 without padding>`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  created_at: string;
}
