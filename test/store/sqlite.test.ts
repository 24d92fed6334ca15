/** The store contract on the embedded default, SQLite (see contract.ts). */
import { storeContract } from './contract.js';

storeContract('sqlite');
