import { QueryTypes, type Model, type ModelStatic, type Sequelize } from 'sequelize';

/** One way the database differs from a model: what the model says, what the table has. */
export interface SchemaProblem {
  table: string;
  column?: string;
  problem: string;
  /**
   * The code can't run on this table (missing table or column, other type or nullability). Not
   * fatal: a column the model lacks, which a newer replica's migration may have added while
   * this one still runs (rolling deploys, rollbacks).
   */
  fatal: boolean;
}

interface ColumnRow {
  table_name: string;
  column_name: string;
  column_type: string;
  is_nullable: 'YES' | 'NO';
  column_key: string;
}

/**
 * Column types as MySQL and MariaDB print them and as Sequelize writes them, in one spelling:
 * no integer display widths (BIGINT(20) = BIGINT), INTEGER = INT, BOOLEAN = TINYINT(1) = TINYINT.
 */
export function normalizeColumnType(type: string): string {
  return type
    .toUpperCase()
    .replace(/\s+/g, ' ')
    .replace(/^INTEGER\b/, 'INT')
    .replace(/^BOOLEAN$/, 'TINYINT')
    .replace(/^(TINYINT|SMALLINT|MEDIUMINT|INT|BIGINT)\(\d+\)/, '$1')
    .trim();
}

function sqlType(type: unknown): string {
  return typeof type === 'string' ? type : (type as { toSql(): string }).toSql();
}

/**
 * Compares the instance's models (the one description of each table) with the tables in its
 * database: every model column exists with its type, nullability and primary key, and no table
 * has a column its model lacks (with everyTable, no table lacks a model). Empty when they agree. Migrations stay raw DDL (a shipped
 * migration must never change when a model does); this check is what ties the two together, at
 * start after migrating and in `migrate status`.
 */
export async function checkSchema(
  db: Sequelize,
  options: { everyTable?: boolean } = {},
): Promise<SchemaProblem[]> {
  const models: ModelStatic<Model>[] = Object.values(db.models);
  const problems: SchemaProblem[] = [];
  if (options.everyTable) problems.push(...(await unmodelledTables(db, models)));
  if (models.length === 0) return problems;
  const tables = models.map((m) => String(m.getTableName()));
  const rows = await db.query<ColumnRow>(
    `SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, COLUMN_TYPE AS column_type,
            IS_NULLABLE AS is_nullable, COLUMN_KEY AS column_key
       FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?)`,
    { replacements: [tables], type: QueryTypes.SELECT },
  );
  for (const model of models) {
    const table = String(model.getTableName());
    const actual = new Map(
      rows.filter((r) => r.table_name === table).map((r) => [r.column_name, r]),
    );
    if (actual.size === 0) {
      problems.push({ table, problem: 'table is missing (a migration has not run?)', fatal: true });
      continue;
    }
    const described = new Set<string>();
    for (const attribute of Object.values(model.getAttributes())) {
      const column = attribute.field ?? '';
      described.add(column);
      const row = actual.get(column);
      if (!row) {
        problems.push({ table, column, problem: 'column is missing', fatal: true });
        continue;
      }
      const want = normalizeColumnType(sqlType(attribute.type));
      const have = normalizeColumnType(row.column_type);
      if (want !== have) {
        problems.push({
          table,
          column,
          problem: `type is ${have}, model says ${want}`,
          fatal: true,
        });
      }
      const nullable = attribute.allowNull !== false && !attribute.primaryKey;
      if (nullable !== (row.is_nullable === 'YES')) {
        const problem = `nullable is ${row.is_nullable}, model says ${nullable ? 'YES' : 'NO'}`;
        problems.push({ table, column, problem, fatal: true });
      }
      if (Boolean(attribute.primaryKey) !== (row.column_key === 'PRI')) {
        const problem = `primary key differs (model says ${attribute.primaryKey ? 'yes' : 'no'})`;
        problems.push({ table, column, problem, fatal: true });
      }
    }
    for (const column of actual.keys()) {
      if (!described.has(column)) {
        problems.push({ table, column, problem: 'column is not in the model', fatal: false });
      }
    }
  }
  return problems;
}

/**
 * Tables of the database no model describes. Only meaningful where the database holds one
 * service's tables alone (its tests); deployments may share one database between services.
 * umzug's history table counts as described (its storage defines a model).
 */
async function unmodelledTables(
  db: Sequelize,
  models: ModelStatic<Model>[],
): Promise<SchemaProblem[]> {
  const described = new Set(models.map((m) => String(m.getTableName())));
  const rows = await db.query<{ name: string }>(
    'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()',
    { type: QueryTypes.SELECT },
  );
  return rows
    .filter((r) => !described.has(r.name))
    .map((r) => ({ table: r.name, problem: 'table has no model', fatal: false }));
}

/** One line per problem, for errors and `migrate status`. */
export function describeProblems(problems: SchemaProblem[]): string {
  return problems
    .map((p) => `${p.table}${p.column ? `.${p.column}` : ''}: ${p.problem}`)
    .join('; ');
}
