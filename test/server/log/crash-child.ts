/**
 * Child process for the crash tests: opens a log and appends from many concurrent loops until killed,
 * printing one JSON line per acknowledged entry (index, leaf hash, checkpoint note) — only after append()
 * resolved, i.e. only what the log promised is durable.
 * Usage: crash-child.js <dataDir> <storage|embedded> <tag> [concurrency]
 */
import { openLog } from '../../../src/server/log/index.js';

const [dataDir, storage, tag, conc] = process.argv.slice(2);
const log = await openLog({ dataDir: dataDir!, storage: storage === 'embedded' ? undefined : storage! });
process.stdout.write(JSON.stringify({ ready: true }) + '\n');
let n = 0;
const loop = async (): Promise<void> => {
  for (;;) {
    const i = n++;
    const r = await log.append({ body: Buffer.from(`${tag}:${i}:${'y'.repeat(i % 200)}`), indexKeys: [`${tag}`] });
    if (r.status === 'created') {
      process.stdout.write(JSON.stringify({ i: r.entry.index, h: r.entry.leafHash.toString('hex'), cp: r.checkpoint.note }) + '\n');
    }
  }
};
await Promise.all(Array.from({ length: Number(conc ?? 32) }, loop));
