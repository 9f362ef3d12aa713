/**
 * Migration status: one report, built here for both `legacy-gateway status` and `GET /v1/migration/status`.
 * Totals, migrated, exported, remaining, marks per day and their running total (the chart), the remaining users who
 * were recently active in the legacy app, and the decommission checklist (the end state of the "convert database"
 * step: every user migrated or exported, the IdP's scripts switched to no-ops, drain on, the database cut off).
 */
import { writeFileSync } from 'node:fs';
import type { MigrationStatus, UserStore } from '../../adapters/types.js';
import { loadConfig, parseFlags, UsageError, withStore, type CliIO } from './cli.js';

export type StepId = 'all_users_moved' | 'idp_scripts_noop' | 'drain' | 'legacy_database_disconnected';

export interface DecommissionStep {
  step: StepId;
  title: string;
  /** null: an operator's step outside the gateway's sight (confirm it by hand). */
  done: boolean | null;
  detail: string;
}

export interface StatusReport {
  total: number;
  migrated: number;
  /** null when the store keeps no export ledger. */
  exported: number | null;
  remaining: number;
  /** Kept for clients of the first version of the endpoint: percent.migrated. */
  percent_migrated: number;
  percent: { migrated: number; exported: number | null; remaining: number };
  /** Migration marks per UTC day, oldest first; days without marks are left out. */
  per_day: { day: string; count: number }[];
  /** Running total of per_day: the users migrated by the end of each day. */
  cumulative: { day: string; migrated: number }[];
  /** Remaining users who logged in to the legacy app in the last 30/90 days; null without a last-login column. */
  active_remaining: { days_30: number; days_90: number } | null;
  decommission: { ready: boolean; steps: DecommissionStep[] };
  drain: boolean;
  as_of: string;
}

/** What a draining gateway reports: an empty store, which it never reads. */
const DRAINED: MigrationStatus = { total: 0, migrated: 0, exported: 0, remaining: 0, perDay: [], activeRemaining: null };

const pct = (n: number, total: number) => (total === 0 ? 0 : Math.round((n / total) * 10_000) / 100);
const fmt = (n: number) => n.toLocaleString('en-US');
const users = (n: number) => `${fmt(n)} user${n === 1 ? '' : 's'}`;

function decommission(s: MigrationStatus, drain: boolean): StatusReport['decommission'] {
  const moved = s.remaining === 0;
  const active = s.activeRemaining ? ` (${fmt(s.activeRemaining.days30)} active in the last 30 days, ${fmt(s.activeRemaining.days90)} in the last 90)` : '';
  const noLedger = s.exported === null ? ' This store keeps no export ledger, so exported users are counted as remaining.' : '';
  const steps: DecommissionStep[] = [
    {
      step: 'all_users_moved',
      title: 'Every legacy user is migrated or exported',
      done: moved,
      detail: drain
        ? 'Drain is on: the legacy store is no longer read, and the gateway counts it as empty.'
        : moved
          ? `All ${users(s.total)} are migrated (${fmt(s.migrated)}) or exported (${fmt(s.exported ?? 0)}).`
          : `${users(s.remaining)} still depend on the legacy store${active}: let them log in, or export them (legacy-gateway export) and import the files.${noLedger}`,
    },
    {
      step: 'idp_scripts_noop',
      title: 'The IdP\'s login and get_user scripts are no-ops, with "Import Users to Auth0" still on',
      done: null,
      detail:
        'In the IdP, replace the connection\'s login and get_user scripts with versions that find no user (clients/auth0/noop/ in this repository), and leave "Import Users to Auth0" on (turned off, Auth0 would authenticate through the scripts alone instead of the users it now holds). The gateway cannot see this: confirm it by hand.',
    },
    {
      step: 'drain',
      title: 'drain: true in the gateway\'s configuration',
      done: drain,
      detail: drain
        ? 'The gateway answers as if the legacy store were empty and never connects to it.'
        : 'Set drain: true and restart: every endpoint then answers as if the store were empty (unknown user, not found) without connecting to it. It can also go before the scripts change: the IdP then gets the same answers as from no-op scripts.',
    },
    {
      step: 'legacy_database_disconnected',
      title: 'The legacy database is disconnected',
      done: null,
      detail: drain
        ? 'The gateway no longer needs the legacy database: it can be cut off. The gateway cannot see this: confirm it by hand.'
        : 'Only once drain is on: the gateway then no longer needs the legacy database. The gateway cannot see this: confirm it by hand.',
    },
  ];
  return { ready: moved, steps };
}

/**
 * The status report. With drain on, the store is never touched: the report is that of an empty store.
 * A store that keeps no ledger or last-login column reports exported / active_remaining as null.
 */
export async function buildStatus(store: Pick<UserStore, 'migrationStatus'>, config: { drain: boolean }, now: Date = new Date()): Promise<StatusReport> {
  const raw = config.drain ? DRAINED : await store.migrationStatus();
  // Stores written before the export ledger and the per-day counts report only the first three numbers.
  const s: MigrationStatus = { ...raw, exported: raw.exported ?? null, perDay: raw.perDay ?? [], activeRemaining: raw.activeRemaining ?? null };
  let running = 0;
  return {
    total: s.total,
    migrated: s.migrated,
    exported: s.exported,
    remaining: s.remaining,
    percent_migrated: pct(s.migrated, s.total),
    percent: { migrated: pct(s.migrated, s.total), exported: s.exported === null ? null : pct(s.exported, s.total), remaining: pct(s.remaining, s.total) },
    per_day: s.perDay.map(({ day, count }) => ({ day, count })),
    cumulative: s.perDay.map(({ day, count }) => ({ day, migrated: (running += count) })),
    active_remaining: s.activeRemaining ? { days_30: s.activeRemaining.days30, days_90: s.activeRemaining.days90 } : null,
    decommission: decommission(s, config.drain),
    drain: config.drain,
    as_of: now.toISOString(),
  };
}

const DAYS_SHOWN = 14;
const mark = (done: boolean | null) => (done === null ? '[?]' : done ? '[x]' : '[ ]');

/** The human form: key numbers, the last days' marks, the checklist. */
export function formatStatus(r: StatusReport): string {
  const width = Math.max(3, fmt(r.total).length);
  const line = (label: string, n: number, p: number | null) => `  ${label.padEnd(10)}${fmt(n).padStart(width)}${p === null ? '' : `  ${p.toFixed(2).padStart(6)}%`}`;
  const out = [`Migration status as of ${r.as_of}${r.drain ? ' (drain is on: the legacy store is not read)' : ''}`, line('total', r.total, null), line('migrated', r.migrated, r.percent.migrated)];
  out.push(r.exported === null ? `  ${'exported'.padEnd(10)}${'n/a'.padStart(width)}  (no export ledger)` : line('exported', r.exported, r.percent.exported));
  out.push(line('remaining', r.remaining, r.percent.remaining));
  if (r.active_remaining) {
    out.push(`  of the remaining, active in the legacy app: ${fmt(r.active_remaining.days_30)} in the last 30 days, ${fmt(r.active_remaining.days_90)} in the last 90`);
  }
  out.push('');
  if (r.per_day.length === 0) out.push('Migrations per day: none recorded yet');
  else {
    const shown = r.per_day.slice(-DAYS_SHOWN);
    out.push(`Migrations per day (UTC; the last ${shown.length} of ${r.per_day.length} days with marks):`);
    for (const d of shown) out.push(`  ${d.day}  ${fmt(d.count)}`);
  }
  out.push('', 'Decommission checklist:');
  r.decommission.steps.forEach((s, i) => out.push(`  ${mark(s.done)} ${i + 1}. ${s.title}`, `         ${s.detail}`));
  out.push(
    '',
    r.decommission.ready
      ? 'Ready to decommission: every user is migrated or exported. Follow the remaining steps in order.'
      : 'Not ready to decommission yet: users still depend on the legacy store.',
    '',
  );
  return out.join('\n');
}

/** Stands in for the store while draining: buildStatus never calls it then. */
const NO_STORE: Pick<UserStore, 'migrationStatus'> = {
  migrationStatus: () => Promise.reject(new Error('drain is on: the legacy store is not opened')),
};

/** `legacy-gateway status [--json] [--html FILE]` */
export async function run(args: string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, { json: { type: 'boolean' }, html: { type: 'string' } });
  if (flags.html !== undefined && flags.html.trim() === '') throw new UsageError('--html needs a file name');
  const config = loadConfig(flags.config, io);
  // Draining means the store may already be gone: it is not even opened.
  const report = config.drain ? await buildStatus(NO_STORE, config) : await withStore(config, (store) => buildStatus(store, config));
  if (flags.html !== undefined) {
    const { renderStatusHtml } = await import('./status-html.js');
    try {
      writeFileSync(flags.html, renderStatusHtml(report));
    } catch (e) {
      io.stderr.write(`status: cannot write ${flags.html} (${(e as NodeJS.ErrnoException).code ?? 'error'})\n`);
      return 1;
    }
    io.stderr.write(`status: wrote ${flags.html}\n`);
  }
  io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
  return 0;
}

/** `legacy-gateway status --help`. */
export const help = `legacy-gateway status — how far the migration is, and the decommission checklist

Usage:
  legacy-gateway status [--config FILE] [--json] [--html FILE]

Prints total, migrated, exported, remaining, marks per day and the remaining users recently active in the legacy app.

Options:
  -c, --config FILE   the gateway's configuration (default: $LEGACY_GATEWAY_CONFIG)
  --json              print the report as JSON (the same object as GET /v1/migration/status)
  --html FILE         also write a self-contained HTML page with the chart

Example:
  legacy-gateway status --config gateway.yaml --html status.html
`;
