/** The dashboard's scenarios (dashboard.ts) in Debian's Chromium, driven by playwright-core. */
import { describeDashboard } from './dashboard.js';

describeDashboard('chromium');
