/** `logfsctl pipeline run`: a pipeline worker in the foreground, on Kafka (or a given journal-less host). */
import type { Argv, CommandModule } from 'yargs';
import { LogfsError } from '../core/errors.js';
import { configureLogger } from '../core/logger.js';
import { openFleet } from '../control/fleet/index.js';
import { controlPlaneAt, openStore } from '../control/open-store.js';
import { readRuntime } from '../daemon/daemon.js';
import { createKafka, parseGatewayConfig } from '../gateway/index.js';
import { startPipelineWorker } from '../pipeline/host.js';
import { brokersOf } from './daemon-options.js';

interface Common {
  data: string;
}

export const pipelineCommand: CommandModule<Common, Common> = {
  command: 'pipeline',
  describe: 'Run pipeline workers',
  builder: (y: Argv<Common>) =>
    y
      .command(
        'run',
        'Run a pipeline worker until Ctrl-C: it consumes the stream topics of its graphs as Kafka consumer groups (more workers share the load)',
        (yy) =>
          yy
            .option('kafka', { type: 'string', array: true, describe: 'Kafka bootstrap brokers (default: those of the running logfsd)' })
            .option('graphs', { type: 'string', array: true, describe: 'Run only these graphs (default: all, and the default graph)' })
            .option('topic-prefix', { type: 'string', describe: 'Topic prefix (default: that of the running logfsd, or logfs)' })
            .option('store', { choices: ['file', 'kafka'], describe: 'Provisioning store: the data dir\'s file, or the cluster\'s compacted Kafka topic (default: what the running logfsd uses, else file)' })
            .option('log-level', { type: 'string', default: process.env.LOGFS_LOG_LEVEL ?? 'info' }),
        async (argv) => {
          const rt = await readRuntime(argv.data);
          const brokers = brokersOf(argv.kafka as string[] | undefined) ?? rt?.brokers ?? [];
          if (brokers.length === 0) {
            throw new LogfsError('LOGFS_E_CONFIG', 'pipeline run needs Kafka (--kafka host:port); in embedded mode logfsd runs the pipeline itself');
          }
          const log = configureLogger({ level: argv['log-level'] as string });
          const gw = parseGatewayConfig({ kafka: { brokers, ...(argv['topic-prefix'] || rt?.topicPrefix ? { topicPrefix: (argv['topic-prefix'] as string | undefined) ?? rt?.topicPrefix } : {}) } });
          const storeKind = (argv.store as 'file' | 'kafka' | undefined) ?? rt?.store ?? 'file';
          // The store and the fleet reports live on the same medium: the data dir, or Kafka.
          const where = controlPlaneAt(storeKind, { dataDir: argv.data, brokers, topicPrefix: gw.kafka.topicPrefix, replicationFactor: gw.kafka.replicationFactor, log });
          const store = await openStore(where);
          const fleet = await openFleet(where);
          const worker = await startPipelineWorker({
            dataDir: argv.data,
            store,
            log,
            topicPrefix: gw.kafka.topicPrefix,
            kafka: createKafka(gw, log, `${gw.kafka.clientId}-pipeline`),
            replicationFactor: gw.kafka.replicationFactor,
            fleet,
            ...(argv.graphs ? { graphs: (argv.graphs as string[]).flatMap((g) => g.split(',')) } : {}),
          });
          process.stderr.write(`logfsctl: pipeline worker ${worker.workerId} running; Ctrl-C to stop\n`);
          await new Promise<void>((resolve) => {
            process.once('SIGINT', () => resolve());
            process.once('SIGTERM', () => resolve());
          });
          await worker.stop();
          await fleet.close();
          await store.close();
          process.exit(0);
        },
      )
      .demandCommand(1, 'name a pipeline command: run'),
  handler: () => {},
};
