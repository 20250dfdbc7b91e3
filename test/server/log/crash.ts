/** Runs crash-child.js processes, collects what they acknowledged, and SIGKILLs them mid-stream. */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Ack {
  i: number;
  h: string;
  cp: string;
}

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'crash-child.js');

/** Starts a child and kills it with SIGKILL after it acknowledged at least `killAfter` entries. */
export function runUntilKilled(dataDir: string, storage: string, tag: string, killAfter: number): Promise<{ acks: Ack[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dataDir, storage, tag, '32'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acks: Ack[] = [];
    let buf = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child ${tag} acknowledged only ${acks.length} entries in 60 s: ${stderr}`));
    }, 60_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const msg = JSON.parse(line) as Ack | { ready: true };
        if ('i' in msg) acks.push(msg);
      }
      if (!killed && acks.length >= killAfter) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child ${tag} exited with ${code ?? signal} before it was killed: ${stderr}`));
      else resolve({ acks, stderr });
    });
  });
}
