/**
 * The stream keys a command run on this host can use: those of the provisioning store in `--data`
 * (embedded mode keeps it there as a file). Records of encrypted streams are opened with them;
 * without the store (another host, cluster mode) they stay sealed and are shown as such.
 */
import { FileProvisioningStore } from '../control/store.js';
import { StreamKeyring } from '../gateway/record-crypto.js';

export async function localStreamKeys(dataDir: string, warn: (text: string) => void): Promise<StreamKeyring> {
  try {
    const store = await FileProvisioningStore.open(dataDir);
    const keys = new StreamKeyring(Object.values(store.snapshot().streams));
    store.close();
    return keys;
  } catch (err) {
    warn(`cannot read the provisioning store in ${dataDir} (${(err as Error).message}); records of encrypted streams stay sealed`);
    return new StreamKeyring([]);
  }
}
