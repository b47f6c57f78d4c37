// wardenctl prices [--type T] [--region R]: what the bundled price table knows.
import { tableOf } from '../../src/cli/table.js';
import { parse } from '../../src/cli/run-main.js';
import { monthlyCentsFromHourly, PRICE_TABLE } from '../../src/prices/prices.js';
import { HELP, printHelp } from './help.js';

export async function pricesCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    { type: { type: 'string' }, region: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    HELP.prices,
  );
  if (values.help) return printHelp(HELP.prices);
  const rows: { region: string; type: string; hourly: number; monthly: number }[] = [];
  for (const [region, types] of Object.entries(PRICE_TABLE.ec2_hourly)) {
    if (values.region && region !== values.region) continue;
    for (const [type, hourly] of Object.entries(types))
      if (!values.type || type === values.type) rows.push({ region, type, hourly, monthly: monthlyCentsFromHourly(hourly) / 100 });
  }
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ version: PRICE_TABLE.version, source: PRICE_TABLE.source, ec2: rows, ebs_gb_month: PRICE_TABLE.ebs_gb_month, s3: PRICE_TABLE.s3 }, null, 2)}\n`,
    );
    return rows.length ? 0 : 1;
  }
  process.stdout.write(`price table ${PRICE_TABLE.version} (${PRICE_TABLE.source})\n`);
  if (!rows.length) {
    process.stdout.write(
      `no EC2 price for ${values.type ?? 'any type'}${values.region ? ` in ${values.region}` : ''}: aws-warden denies what it cannot price\n`,
    );
    return 1;
  }
  const table = tableOf(['region', 'type', 'USD/hour', 'USD/month (×730, rounded up)']);
  for (const r of rows) table.push([r.region, r.type, r.hourly, r.monthly.toFixed(2)]);
  process.stdout.write(`${table.toString()}\n`);
  return 0;
}
