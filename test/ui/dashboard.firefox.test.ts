/** The dashboard's scenarios (dashboard.ts) in Debian's Firefox ESR, driven by puppeteer-core over WebDriver BiDi. */
import { describeDashboard } from './dashboard.js';

describeDashboard('firefox');
