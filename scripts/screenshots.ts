/**
 * Screenshots of the log explorer for docs/: the search page (with results) and an entry page (a keyless
 * hashedrekord, proof verified in the browser), at desktop and phone widths. Run once after changing the
 * pages: `npx tsc -p tsconfig.json && node dist/scripts/screenshots.js`. Starts its own log on 127.0.0.1
 * and drives Debian's chromium (apt-get install chromium).
 */
import { fileURLToPath } from 'node:url';
import { launchBrowser, startExplorerLog, EMAIL } from '../test/server/explorer/fixture.js';

const docs = fileURLToPath(new URL('../../docs/', import.meta.url));
const log = await startExplorerLog(3);
try {
  for (const [name, viewport] of [
    ['desktop', { width: 1280, height: 900 }],
    ['phone', { width: 390, height: 844 }],
  ] as const) {
    const b = await launchBrowser(viewport);
    try {
      const page = await b.context.newPage();
      await page.goto(`${log.srv.url}/#/search?q=${encodeURIComponent(EMAIL)}&type=email`);
      await page.waitForSelector('table.results tbody tr');
      await page.screenshot({ path: `${docs}explorer-search-${name}.png`, fullPage: name === 'desktop' });
      await page.goto(`${log.srv.url}/#/index/${log.indexes.keylessHashedrekord}`);
      await page.waitForSelector('#verdict[data-state="verified"]');
      await page.screenshot({ path: `${docs}explorer-entry-${name}.png`, fullPage: name === 'desktop' });
      process.stdout.write(`docs/explorer-search-${name}.png, docs/explorer-entry-${name}.png\n`);
    } finally {
      await b.close();
    }
  }
} finally {
  await log.close();
}
