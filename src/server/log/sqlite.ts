/** node:sqlite, loaded once for the embedded log and `log fsck`. */
type Sqlite = typeof import('node:sqlite');
let sqlite: Promise<Sqlite> | undefined;

/**
 * Loads node:sqlite without its one-time "SQLite is an experimental feature" warning: operators would
 * see it on every start. Only that warning is dropped, and only while the module loads.
 */
export function loadSqlite(): Promise<Sqlite> {
  sqlite ??= (async () => {
    const original = process.emitWarning;
    process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]): void {
      const message = typeof warning === 'string' ? warning : warning.message;
      const opt = rest[0];
      const type = typeof opt === 'string' ? opt : ((opt as { type?: string } | undefined)?.type ?? (warning instanceof Error ? warning.name : ''));
      if (type === 'ExperimentalWarning' && /sqlite/i.test(message)) return;
      (original as (...a: unknown[]) => void).call(process, warning, ...rest);
    } as typeof process.emitWarning;
    try {
      return await import('node:sqlite');
    } finally {
      process.emitWarning = original;
    }
  })();
  return sqlite;
}
