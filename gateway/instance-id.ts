/**
 * Where the instance ID comes from, in order (docs/configuration.md): the configured `instance.id`;
 * else the cloud metadata endpoint when `instance.metadataUrl` is set; else `/etc/machine-id`.
 * A configured metadata endpoint that fails is an error, not a silent fallback: records stamped
 * with the wrong identity cannot be fixed later.
 */
import fsp from 'node:fs/promises';
import { LogfsError } from '../core/errors.js';
import type { GatewayConfig } from './config.js';

export type InstanceIdSource = 'config' | 'metadata' | 'machine-id';

export async function resolveInstanceId(cfg: GatewayConfig['instance']): Promise<{ id: string; source: InstanceIdSource }> {
  if (cfg.id) return { id: cfg.id, source: 'config' };
  if (cfg.metadataUrl) {
    let text: string;
    try {
      const res = await fetch(cfg.metadataUrl, { signal: AbortSignal.timeout(cfg.metadataTimeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      text = (await res.text()).trim();
    } catch (cause) {
      throw new LogfsError('LOGFS_E_CONFIG', `instance ID: metadata endpoint ${cfg.metadataUrl} did not answer`, {
        cause,
        retriable: true,
      });
    }
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(text)) {
      throw new LogfsError('LOGFS_E_CONFIG', `instance ID: metadata endpoint answered an invalid ID "${text.slice(0, 40)}"`);
    }
    return { id: text, source: 'metadata' };
  }
  try {
    const id = (await fsp.readFile(cfg.machineIdFile, 'utf8')).trim();
    if (id) return { id, source: 'machine-id' };
  } catch (cause) {
    throw new LogfsError('LOGFS_E_CONFIG', `instance ID: set instance.id, as ${cfg.machineIdFile} cannot be read`, { cause });
  }
  throw new LogfsError('LOGFS_E_CONFIG', `instance ID: ${cfg.machineIdFile} is empty; set instance.id`);
}
