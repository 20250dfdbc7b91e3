/**
 * Child process for the import crash test: imports a file into a data dir in small chunks, printing a
 * line after each commit, until it ends or is killed. Usage: import-child.js <dataDir> <file> <chunk>
 */
import { fileSource, importLog } from '../../../src/server/log/import.js';

const [dataDir, file, chunk] = process.argv.slice(2);
await importLog({
  dataDir: dataDir!,
  source: fileSource(file!, Number(chunk)),
  chunk: Number(chunk),
  progress: (size) => process.stdout.write(`committed ${size}\n`),
});
process.stdout.write('done\n');
