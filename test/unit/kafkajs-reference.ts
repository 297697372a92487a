import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * kafkajs' own implementation of module `id`, loaded afresh from its file: importing one of our
 * kafkajs-*.ts modules replaces the cached one (that is how the fast paths are installed), and
 * comparing a fast path with itself would prove nothing.
 */
export function unpatched<T>(id: string): T {
  const file = require.resolve(id);
  const cached = require.cache[file];
  delete require.cache[file];
  try {
    return require(file) as T;
  } finally {
    if (cached) require.cache[file] = cached;
  }
}
