/**
 * Entry point of the gateway child process. The supervisor sends `{ type: 'start', config,
 * logLevel }` over IPC; the process replies `{ type: 'ready', port }` or `{ type: 'failed',
 * message }`. It exits when the IPC channel closes, so a killed supervisor leaves no gateway.
 */
import { createLogger } from './logger.ts';
import { startGateway, type Gateway, type GatewayConfig } from './gateway/server.ts';

interface StartMessage {
  type: 'start';
  config: GatewayConfig;
  logLevel: string;
}

let gateway: Gateway | undefined;
let stopping = false;

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  const timer = setTimeout(() => process.exit(code), 5000);
  timer.unref();
  await gateway?.close().catch(() => undefined);
  process.exit(code);
}

process.on('message', (message: StartMessage) => {
  if (message?.type !== 'start' || gateway !== undefined) return;
  const logger = createLogger(message.logLevel, 'gateway');
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'gateway crashed');
    process.exit(1);
  });
  startGateway(message.config, logger).then(
    (started) => {
      gateway = started;
      process.send?.({ type: 'ready', port: started.port });
    },
    (error: unknown) => {
      logger.error({ err: error }, 'gateway failed to start');
      process.send?.({ type: 'failed', message: (error as Error).message });
      void shutdown(1);
    },
  );
});

process.on('disconnect', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
