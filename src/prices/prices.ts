// The bundled price table: EC2 on-demand, EBS and S3 per region. An unknown price is null, never a guess.
import table from './aws-prices.json' with { type: 'json' };

export const PRICE_TABLE = table as PriceTable;

export interface PriceTable {
  version: string;
  source: string;
  hours_per_month: number;
  currency: 'USD';
  ec2_hourly: Record<string, Record<string, number>>;
  ebs_gb_month: Record<string, Record<string, number>>;
  ebs_snapshot_gb_month: Record<string, number>;
  /** Every public IPv4 address, attached or idle (since February 2024). */
  public_ipv4_hourly: number;
  s3: Record<string, { standard_gb_month: number; put_per_1000: number; get_per_1000: number }>;
  /** RDS Single-AZ on-demand, by region, engine and instance class. */
  rds_hourly: Record<string, Record<string, Record<string, number>>>;
  rds_storage_gb_month: Record<string, number>;
  rds_snapshot_gb_month: Record<string, number>;
}

/**
 * Whole cents per month for an hourly price: hourly × 730, rounded UP to the cent, so an estimate never
 * understates spend (t3.small: 0.0208 × 730 = 15.184 → 1519 cents).
 */
export function monthlyCentsFromHourly(hourlyUsd: number): number {
  return Math.ceil(Math.round(hourlyUsd * PRICE_TABLE.hours_per_month * 100 * 1e6) / 1e6);
}

export function monthlyCentsFromGbMonth(gb: number, usdPerGbMonth: number): number {
  return Math.ceil(Math.round(gb * usdPerGbMonth * 100 * 1e6) / 1e6);
}

export function ec2Hourly(region: string, instanceType: string): number | null {
  return PRICE_TABLE.ec2_hourly[region]?.[instanceType] ?? null;
}

export function ebsGbMonth(region: string, volumeType: string): number | null {
  return PRICE_TABLE.ebs_gb_month[region]?.[volumeType] ?? null;
}

export function snapshotGbMonth(region: string): number | null {
  return PRICE_TABLE.ebs_snapshot_gb_month[region] ?? null;
}

export function rdsHourly(region: string, engine: string, instanceClass: string): number | null {
  return PRICE_TABLE.rds_hourly[region]?.[engine]?.[instanceClass] ?? null;
}

/** An RDS instance's monthly cents: its class and its allocated storage; null when either price is unknown. */
export function rdsMonthlyCents(region: string, engine: string, instanceClass: string, storageGb: number): number | null {
  const hourly = rdsHourly(region, engine, instanceClass);
  const storage = PRICE_TABLE.rds_storage_gb_month[region];
  return hourly === null || storage === undefined ? null : monthlyCentsFromHourly(hourly) + monthlyCentsFromGbMonth(storageGb, storage);
}

export function rdsSnapshotGbMonth(region: string): number | null {
  return PRICE_TABLE.rds_snapshot_gb_month[region] ?? null;
}

export function s3Prices(region: string) {
  return PRICE_TABLE.s3[region] ?? null;
}

/** Known instance types of a region that cost at most `maxCents` a month, cheapest first. */
export function ec2TypesUnder(region: string, maxCents: number): { type: string; cents: number }[] {
  return Object.entries(PRICE_TABLE.ec2_hourly[region] ?? {})
    .map(([type, hourly]) => ({ type, cents: monthlyCentsFromHourly(hourly) }))
    .filter((t) => t.cents <= maxCents)
    .sort((a, b) => a.cents - b.cents);
}

export const formatUsd = (cents: number) => `$${(cents / 100).toFixed(2)}`;
