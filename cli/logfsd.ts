/**
 * `logfsd`: the per-host daemon (mount + gateway), or with `logfsd gateway` a separate per-host
 * gateway serving several instances' daemons over unix sockets.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { configureLogger } from '../core/logger.js';
import { errorMessage } from '../core/errors.js';
import { controlPlaneLocation, runDaemon } from '../daemon/daemon.js';
import { openStore } from '../control/open-store.js';
import { Gateway } from '../gateway/index.js';
import { serveGateway } from '../gateway/gateway-server.js';
import { daemonConfigFromFlags, daemonFlags, pipelineAttachmentFor } from './daemon-options.js';

const DEFAULT_DATA = process.env.LOGFS_DATA ?? '/var/lib/logfs';

async function main(): Promise<void> {
  await daemonFlags(
    yargs(hideBin(process.argv))
      .scriptName('logfsd')
      .option('data', { type: 'string', default: DEFAULT_DATA, describe: 'State directory (or LOGFS_DATA)' }),
  )
    .command(
      '$0',
      'Mount the log filesystem and run the gateway until SIGINT/SIGTERM',
      () => undefined,
      async (argv) => {
        const config = await daemonConfigFromFlags(argv);
        const log = configureLogger({ level: config.logLevel });
        await runDaemon(config, log, pipelineAttachmentFor(config, log));
        // Shut down cleanly by now; fuse-native can keep a native handle alive after an external
        // umount, so exit rather than wait for the event loop to drain.
        process.exit(0);
      },
    )
    .command(
      'gateway',
      'Run a separate per-host gateway for the daemons of several instances (config: gateway.remoteInstances)',
      () => undefined,
      async (argv) => {
        const config = await daemonConfigFromFlags(argv);
        const log = configureLogger({ level: config.logLevel });
        const store = await openStore(controlPlaneLocation(config, log));
        const attachment = pipelineAttachmentFor({ ...config, gatewaySocket: undefined }, log);
        const gateway = await Gateway.start(config.gateway, { dataDir: config.dataDir, store, log, embeddedConsumers: attachment?.journalConsumers ?? [] });
        const pipeline = await attachment?.start({ gateway, store, dataDir: config.dataDir });
        const server = await serveGateway(gateway, log);
        await new Promise<void>((resolve) => {
          const stop = (): void => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        await server.close();
        await pipeline?.stop();
        await gateway.close();
        await store.close();
        process.exit(0);
      },
    )
    .strict()
    .help()
    .fail((msg, err) => {
      process.stderr.write(`logfsd: ${err ? errorMessage(err) : `${msg}\nRun "logfsd --help" for usage.`}\n`);
      process.exit(err ? 1 : 2);
    })
    .parseAsync();
}

main().catch((err: unknown) => {
  process.stderr.write(`logfsd: ${errorMessage(err)}\n`);
  process.exit(1);
});
