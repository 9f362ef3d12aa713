/**
 * The import's memory across runs: DIR/import-state.json, rewritten atomically (temporary file, fsync, rename) after
 * every step, so that a run killed at any instant leaves either the previous state or the next one, never half of
 * one. A file is marked `submitting` before its job is requested and `submitted` (with the job id) once Auth0 answered;
 * a re-run therefore never submits a file that has a job, and refuses to guess about one caught in between.
 * A lock file keeps two runs from working on the same directory at once.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

export type FileStatus =
  /** Not submitted yet. */
  | 'new'
  /** The job request was being sent when the run stopped: Auth0 may or may not have a job for it. */
  | 'submitting'
  /** Auth0 created a job (job_id): poll it. */
  | 'submitted'
  /** Job finished; errors downloaded. */
  | 'completed'
  | 'failed'
  /** Auth0 had deleted the job's data (24 h) before its errors could be read. */
  | 'expired'
  /** Refused before any job existed (400, 413, not a JSON array, too big): safe to submit again once fixed. */
  | 'rejected'
  /** Submission outcome unknown (see `submitting`): never resubmitted without --retry-unknown. */
  | 'unknown';

export interface JobSummary {
  inserted: number;
  updated: number;
  failed: number;
  total: number;
}

export interface FileState {
  sha256: string;
  bytes: number;
  external_id: string;
  status: FileStatus;
  job_id?: string;
  submitted_at?: string;
  finished_at?: string;
  summary?: JobSummary;
  /** Per-user errors, saved (password hashes stripped) under DIR/import-errors/. */
  errors_file?: string;
  errors_count?: number;
  /** What went wrong for this file, in words. */
  problem?: string;
}

export interface ImportState {
  version: 1;
  target: 'auth0';
  domain: string;
  connection_id: string;
  upsert: boolean;
  files: Record<string, FileState>;
}

export class StateConflict extends Error {}

export function statePath(dir: string): string {
  return path.join(dir, 'import-state.json');
}

/** The saved state, or a fresh one. A state written for another tenant, connection or mode is refused. */
export function loadState(dir: string, fresh: Omit<ImportState, 'files' | 'version'>): ImportState {
  let text: string;
  try {
    text = readFileSync(statePath(dir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, ...fresh, files: {} };
    throw new StateConflict(`cannot read ${statePath(dir)} (${(e as NodeJS.ErrnoException).code})`);
  }
  let s: ImportState;
  try {
    s = JSON.parse(text) as ImportState;
  } catch {
    throw new StateConflict(`${statePath(dir)} is not valid JSON; move it away only if no job was submitted from this directory`);
  }
  if (s.version !== 1 || typeof s.files !== 'object' || s.files === null) throw new StateConflict(`${statePath(dir)}: unknown format`);
  for (const k of ['domain', 'connection_id', 'upsert'] as const) {
    if (s[k] !== fresh[k]) {
      throw new StateConflict(
        `${statePath(dir)} belongs to an import with ${k} = ${String(s[k])}, not ${String(fresh[k])}: use the same configuration and flags, or export into a new directory`,
      );
    }
  }
  return s;
}

/** Write a file so that readers see the old content or the new one, even across a crash or power loss. */
export function writeFileAtomic(file: string, content: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  try {
    const d = openSync(path.dirname(file), 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  } catch {
    // Some filesystems can't fsync a directory; the rename itself is still atomic.
  }
}

export function saveState(dir: string, state: ImportState): void {
  writeFileAtomic(statePath(dir), `${JSON.stringify(state, null, 2)}\n`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take DIR/import.lock, or throw StateConflict naming the live process that holds it. A dead holder's lock is taken over. */
export function acquireLock(dir: string): () => void {
  const file = path.join(dir, 'import.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => {
        try {
          unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let pid = 0;
      try {
        pid = Number(readFileSync(file, 'utf8').trim());
      } catch {
        continue; // released meanwhile
      }
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new StateConflict(`another import is running on this directory (pid ${pid}); wait for it or stop it first`);
      }
      unlinkSync(file);
    }
  }
  throw new StateConflict(`cannot take ${file}`);
}
