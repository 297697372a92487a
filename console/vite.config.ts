// Builds the web console (console/) into dist/console, served by the control service at `/`.
// `npm run build:console`; `npx vite --config console/vite.config.ts` serves it with live reload
// and forwards /api to a running control service (LOGFS_API, default http://127.0.0.1:7480).
import path from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = import.meta.dirname;

export default defineConfig({
  root: here,
  // Relative asset URLs: the console works wherever the service mounts it.
  base: './',
  plugins: [react()],
  build: {
    outDir: path.resolve(here, '../dist/console'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: { '/api': process.env.LOGFS_API ?? 'http://127.0.0.1:7480' },
  },
});
