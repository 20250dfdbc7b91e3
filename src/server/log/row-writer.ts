/**
 * Many rows of one table written with few statements: `INSERT OR REPLACE INTO t (a, b) VALUES (?, ?), (?, ?), …`
 * with up to ROWS_PER_STATEMENT rows each. A commit writes one row per new entry into two tables; a
 * statement per row cost each row a call into node:sqlite, its bindings, a step, a reset and a result
 * object, several times the B-tree insert itself.
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';

/** Rows per statement (each row binds two values; SQLite allows 32,766). */
const ROWS_PER_STATEMENT = 64;

export class PairWriter {
  readonly #db: DatabaseSync;
  readonly #head: string;
  /** Statements by row count, prepared on first use. */
  readonly #stmts = new Map<number, StatementSync>();
  readonly #args: SQLInputValue[] = [];
  #rows = 0;

  /** `INSERT OR REPLACE INTO ${table} (${a}, ${b})`: the caller's fixed names, never input. */
  constructor(db: DatabaseSync, table: string, a: string, b: string) {
    this.#db = db;
    this.#head = `INSERT OR REPLACE INTO ${table} (${a}, ${b}) VALUES `;
  }

  /** Queues a row; written by `flush` (or once a statement's worth is queued). Inside the caller's transaction. */
  add(a: SQLInputValue, b: SQLInputValue): void {
    this.#args.push(a, b);
    if (++this.#rows === ROWS_PER_STATEMENT) this.flush();
  }

  /** Writes the queued rows. */
  flush(): void {
    const n = this.#rows;
    if (n === 0) return;
    let stmt = this.#stmts.get(n);
    if (!stmt) this.#stmts.set(n, (stmt = this.#db.prepare(this.#head + Array(n).fill('(?, ?)').join(', '))));
    const args = this.#args.splice(0);
    this.#rows = 0;
    stmt.run(...args);
  }
}
