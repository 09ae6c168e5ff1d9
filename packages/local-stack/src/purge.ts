import type { Logger } from 'pino';
import type { Sql } from 'postgres';

/** Default interval of the purge when pg_cron is absent: every minute, the schedule the migrations give pg_cron. */
export const DEFAULT_PURGE_INTERVAL_MS = 60 * 1000;

/** Most purge calls in one tick; each call deletes one batch, and a tick repeats while a call deletes rows. */
const MAX_CALLS_PER_TICK = 100;

/**
 * Calls public.purge_stale_topics() every `intervalMs`, for databases without pg_cron. One call
 * deletes at most one batch, so a tick calls it again while it deletes rows, to catch up on a
 * backlog. A missing function (migrations not applied yet) is logged once and retried later.
 */
export function schedulePurge(sql: Sql, logger: Logger, intervalMs = DEFAULT_PURGE_INTERVAL_MS): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  let warnedMissing = false;

  const tick = async () => {
    try {
      let deleted = 0;
      for (let call = 0; call < MAX_CALLS_PER_TICK; call++) {
        const [row] = await sql<{ deleted: number | null }[]>`select public.purge_stale_topics()::bigint as deleted`;
        const batch = Number(row?.deleted ?? 0);
        deleted += batch;
        if (batch === 0) break;
      }
      if (deleted > 0) logger.info({ deleted }, 'purged stale topics');
      else logger.debug('purge found no stale topics');
      warnedMissing = false;
    } catch (error) {
      if ((error as { code?: string }).code === '42883') {
        if (!warnedMissing) logger.warn('public.purge_stale_topics() does not exist yet; the purge waits for the migrations');
        warnedMissing = true;
        return;
      }
      logger.error({ err: error }, 'scheduled purge failed');
    }
  };

  const timer = setInterval(() => {
    running ??= tick().finally(() => {
      running = undefined;
    });
  }, intervalMs);
  timer.unref();

  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
