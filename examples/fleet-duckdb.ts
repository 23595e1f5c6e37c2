/**
 * The fleet, queried where it lives: every store's archive in one place
 * (`<archive>/<storeId>/metrics-*.jsonl[.gz]`), read by DuckDB directly.
 * Counts runs as the aggregator does: a JSON object whose run_id, status and
 * recorded_at are non-empty strings, the first line of each run_id (in
 * archive path order: store, then seq, then line) counting, the rest not.
 *
 *   node dist/examples/fleet-duckdb.js /mnt/archive
 *
 * Needs `@duckdb/node-api` (a devDependency here: install it where you query).
 */
import { pathToFileURL } from 'node:url';

/** Which lines count: the same rule as lib/aggregate/classify.ts, in SQL. */
export const FIRST_RUNS_SQL = `
WITH lines AS (
  SELECT filename, json AS j, row_number() OVER () AS pos
  FROM read_ndjson_objects($glob, filename = true, ignore_errors = true)
),
runs AS (
  SELECT j, trim(j ->> '$.run_id') AS run_id, filename, pos
  FROM lines
  WHERE json_type(j) = 'OBJECT'
    AND json_type(j, '$.run_id') = 'VARCHAR' AND trim(j ->> '$.run_id') <> ''
    AND json_type(j, '$.status') = 'VARCHAR' AND trim(j ->> '$.status') <> ''
    AND json_type(j, '$.recorded_at') = 'VARCHAR' AND trim(j ->> '$.recorded_at') <> ''
)
SELECT * FROM runs
QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY filename, pos) = 1`;

export const TOTALS_SQL = `
WITH firsts AS (${FIRST_RUNS_SQL})
SELECT count(*) AS total_runs,
       count(*) FILTER (WHERE j ->> '$.status' = 'succeeded') AS succeeded_runs,
       coalesce(count(*) FILTER (WHERE j ->> '$.status' = 'succeeded') / nullif(count(*), 0), 0) AS completion_rate
FROM firsts`;

export const PER_EPOCH_SQL = `
WITH firsts AS (${FIRST_RUNS_SQL})
SELECT CAST(j -> '$.tfgrpo_epoch' AS DOUBLE) AS epoch,
       count(*) AS runs,
       round(sum(CASE WHEN json_type(j, '$.cost_usd') IN ('UBIGINT', 'BIGINT', 'DOUBLE')
                      THEN CAST(j ->> '$.cost_usd' AS DOUBLE) ELSE 0 END), 6) AS cost_usd
FROM firsts
WHERE json_type(j, '$.tfgrpo_epoch') IN ('UBIGINT', 'BIGINT', 'DOUBLE')
GROUP BY 1
ORDER BY 1`;

export interface Fleet {
  total_runs: number;
  succeeded_runs: number;
  completion_rate: number;
  epochs: Array<{ epoch: number; runs: number; cost_usd: number }>;
}

/** Totals and per-epoch cost over every store archived under `archiveDir`. */
export async function fleetQuery(archiveDir: string): Promise<Fleet> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const glob = `${archiveDir.replace(/\/+$/, '')}/*/metrics-*.jsonl*`;
    const totals = (await conn.runAndReadAll(TOTALS_SQL, { glob })).getRowObjects()[0]!;
    const epochs = (await conn.runAndReadAll(PER_EPOCH_SQL, { glob })).getRowObjects();
    return {
      total_runs: Number(totals['total_runs']),
      succeeded_runs: Number(totals['succeeded_runs']),
      completion_rate: Number(totals['completion_rate']),
      epochs: epochs.map((e) => ({ epoch: Number(e['epoch']), runs: Number(e['runs']), cost_usd: Number(e['cost_usd']) })),
    };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node dist/examples/fleet-duckdb.js ARCHIVE_DIR\n');
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(await fleetQuery(dir), null, 2)}\n`);
}
