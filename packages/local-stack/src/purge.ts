import type { Logger } from 'pino';
import type { Sql } from 'postgres';

/** Default interval of the purge when pg_cron is absent: every five minutes. */
export const DEFAULT_PURGE_INTERVAL_MS = 5 * 60 * 1000;

/**
 * Calls public.purge_stale_topics() every `intervalMs`, for databases without pg_cron. A missing
 * function (migrations not applied yet) is logged once and retried on the next tick.
 */
export function schedulePurge(sql: Sql, logger: Logger, intervalMs = DEFAULT_PURGE_INTERVAL_MS): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  let warnedMissing = false;

  const tick = async () => {
    try {
      const [row] = await sql<{ deleted: number | null }[]>`select public.purge_stale_topics()::bigint as deleted`;
      const deleted = Number(row?.deleted ?? 0);
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
