/** Every parity case file; the suite runs them in this order. */
import type { CaseFile } from '../suite.js';
import adminRoutes from './admin-routes.js';

export const CASE_FILES: CaseFile[] = [adminRoutes];
