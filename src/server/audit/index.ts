/** The audit log: append and seal (log.ts), signed checkpoints (checkpoints.ts), listing (listing.ts), privacy (privacy.ts). */
export {
  type Checkpoint,
  CheckpointChain,
  checkpointFor,
  checkpointHash,
  checkpointText,
  orgCommitment,
  pinnedHead,
  toChainRecord,
  type VerifyReport,
  verifyCheckpointSignature,
} from './checkpoints.js';
export { auditListing } from './listing.js';
export { AuditLog } from './log.js';
export { forOperator, objectIdForOperator, operatorMaySee, WITHHELD_FIELDS } from './privacy.js';
