/**
 * The web console end to end (issue 5): `logfsctl up` started the way a user starts it (a FUSE
 * mount, the control API on a free port), and Debian's Chromium driven by playwright-core: sign in,
 * create a stream, write into the mount and see the record in the live tail, apply a graph with a
 * metric and an alarm agent through the editor, see the chart move, trigger the alarm and see it
 * listed, then visit the archive, fleet, jobs and agents pages. A screenshot of every page goes to
 * test-artifacts/console/ (kept by CI): look at them.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileP, isMounted, ManagedChild, ROOT, tempDir, waitFor } from './harness.js';

const CHROMIUM = process.env.LOGFS_TEST_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'test-artifacts/console');
// Flags for a closed network: no background connections, no component or sync downloads.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const STREAM = 'shop/web';
const GRAPH = 'shop-stats';

/** `logfsctl up` as a child process, logging to <base>/up.log. */
class Up extends ManagedChild {
  constructor(
    readonly base: string,
    readonly mnt = path.join(base, 'mnt'),
    readonly data = path.join(base, 'data'),
  ) {
    super(path.join(base, 'up.log'));
  }

  async start(): Promise<{ api: string; token: string }> {
    // Free ports for everything it listens on, so the test never collides with another system.
    const child = this.spawnNode([path.join(ROOT, 'bin/logfsctl.js'), 'up', '--mount', this.mnt, '--data', this.data, '--api', '127.0.0.1:0', '--metrics', '127.0.0.1:0']);
    let exited: number | null = null;
    void this.exited.then((code) => (exited = code ?? -1));
    const api = await waitFor(
      'logfsctl up to mount and serve the control API',
      async () => {
        if (exited !== null) return 'exited';
        const rt = JSON.parse(await fsp.readFile(path.join(this.data, 'runtime.json'), 'utf8')) as { pid?: number; api?: string };
        if (rt.pid !== child.pid || !rt.api || !(await isMounted(this.mnt))) return undefined;
        const url = rt.api.startsWith('http') ? rt.api.replace(/\/$/, '') : `http://${rt.api}`;
        const res = await fetch(`${url}/api/v1/health`);
        return res.ok ? url : undefined;
      },
      60_000,
      100,
    );
    if (api === 'exited') throw new Error(`logfsctl up exited with ${exited}:\n${await this.logTail()}`);
    const token = (await fsp.readFile(path.join(this.data, 'admin.token'), 'utf8')).trim();
    return { api, token };
  }

  async cleanup(): Promise<void> {
    await this.stop();
    if (await isMounted(this.mnt)) await execFileP('fusermount', ['-uz', this.mnt]).catch(() => undefined);
    if (!(await isMounted(this.mnt))) await fsp.rm(this.base, { recursive: true, force: true });
  }
}

describe('web console in headless Chromium', () => {
  let up: Up;
  let api: string;
  let token: string;
  let browser: Browser;
  let page: Page;
  const browserErrors: string[] = [];

  beforeAll(async () => {
    // A missing browser is a broken test machine, not a reason to skip: say how to fix it.
    if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: run scripts/setup.sh test (Debian package chromium), or set LOGFS_TEST_CHROMIUM`);
    if (!fs.existsSync(path.join(ROOT, 'dist/console/index.html'))) throw new Error('the console is not built: run scripts/setup.sh (or npm run build:console)');
    // Only this run's screenshots: a page that is no longer visited leaves no stale picture.
    await fsp.rm(SHOTS, { recursive: true, force: true });
    await fsp.mkdir(SHOTS, { recursive: true });
    up = new Up(await tempDir('logfs-console-'));
    ({ api, token } = await up.start());
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (e) => browserErrors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && browserErrors.push(m.text()));
  });

  afterAll(async () => {
    await browser?.close();
    await up?.cleanup();
  });

  const shot = async (name: string) => {
    await page.waitForTimeout(250); // let animations settle
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };
  const write = (line: string) => fs.appendFileSync(path.join(up.mnt, STREAM), `${line}\n`);

  it('signs in, creates a stream and tails what is written into the mount', async () => {
    await page.goto(`${api}/`);
    await page.getByRole('heading', { name: 'Sign in to logFS' }).waitFor();
    await page.locator('input[name=token]').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not accepted' }).waitFor();
    await page.locator('input[name=token]').fill(token);
    await shot('01-sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('whoami').filter({ hasText: 'admin' }).waitFor();
    await page.getByText('No streams yet').waitFor();
    await shot('02-streams-empty');

    await page.getByRole('button', { name: '+ New stream' }).click();
    await page.locator('input[name=name]').fill(STREAM);
    await page.locator('input[name=partitions]').fill('2');
    await page.locator('input[name=rate]').fill('50');
    await page.locator('input[name=retentionHours]').fill('72');
    await page.locator('input[name=description]').fill('storefront access log');
    await page.locator('input[name=encrypt]').check();
    await shot('03-stream-create');
    await page.getByRole('button', { name: 'Create stream' }).click();
    await page.locator(`tr[data-stream="${STREAM}"]`).waitFor();
    await page.getByTestId('toast').filter({ hasText: 'active' }).first().waitFor();
    await waitFor(`${STREAM} in the mount`, () => fs.existsSync(path.join(up.mnt, STREAM)), 10_000);
    await shot('04-streams');

    await page.locator(`tr[data-stream="${STREAM}"]`).getByRole('link', { name: 'Tail' }).click();
    await page.getByText(`Waiting for records on ${STREAM}`).waitFor();
    write('hello');
    await page.getByTestId('tail-row').filter({ hasText: 'hello' }).waitFor();
    for (let i = 1; i <= 5; i++) write(`GET /product/${i} 200 ${10 * i}ms`);
    await expect.poll(() => page.getByTestId('tail-row').count()).toBe(6);
    await page.getByTestId('tail-row').filter({ hasText: 'hello' }).click();
    await page.getByTestId('record-data').filter({ hasText: 'hello' }).waitFor();
    await shot('05-live-tail');
  });

  it('validates a graph as it is typed, applies it and shows its DAG', async () => {
    await page.goto(`${api}/#/graphs`);
    // Only the built-in default graph so far: it archives the new stream.
    await page.getByTestId('graphs-table').getByText('built-in').waitFor();
    await page.getByRole('link', { name: '+ New graph' }).click();
    const editor = page.locator('textarea[name=definition]');
    await editor.waitFor();
    // A typo in an agent type and a dangling input: both problems, in place, at once.
    await editor.fill(graphYaml({ metricType: 'metirc', archiveInput: 'parsed' }));
    const problems = page.getByTestId('problems');
    await problems.getByText('unknown-type').waitFor();
    await problems.getByText('dangling-input').waitFor();
    await page.locator('g.dag-bad[data-node="count"]').waitFor();
    expect(await page.locator('.code-ln-bad').count()).toBeGreaterThanOrEqual(2);
    await shot('06-graph-editor-problems');

    await editor.fill(graphYaml({ metricType: 'metric', archiveInput: 'source' }));
    await page.getByTestId('valid').waitFor();
    await page.getByTestId('apply').click();
    await page.locator('[data-job-state=active]').waitFor({ timeout: 40_000 });
    await shot('07-graph-applied');

    await page.getByRole('link', { name: 'Open graph' }).click();
    await page.locator('g.dag-node[data-node="errors"]').click();
    await page.getByTestId('node-stats').waitFor();
    await shot('08-graph-dag');
  });

  it('charts the metric as lines arrive and lists the alarm they trigger', async () => {
    await page.goto(`${api}/#/metrics`);
    for (let i = 0; i < 5; i++) write(`GET /cart ${i} 200`);
    const chart = page.getByTestId('metric-chart');
    await chart.waitFor({ timeout: 30_000 });
    const total = async () => Number(await chart.getAttribute('data-total'));
    await expect.poll(total, { timeout: 30_000 }).toBeGreaterThan(0);
    const before = await total();
    for (let i = 0; i < 20; i++) write(`GET /checkout ${i} 200`);
    // Auto-refresh (2 s) brings the new points without a reload.
    await expect.poll(total, { timeout: 30_000 }).toBeGreaterThanOrEqual(before + 20);
    await chart.locator('svg rect[fill=transparent]').hover({ position: { x: 600, y: 100 } });
    await shot('09-metrics');

    await page.goto(`${api}/#/alarms`);
    await page.getByText('All clear').waitFor();
    write('ERROR payment gateway timeout');
    const active = page.getByTestId('alarms-table').locator('tr', { hasText: 'checkout-errors' });
    await active.waitFor({ timeout: 30_000 });
    await active.getByText('firing').waitFor();
    await shot('10-alarms');
  });

  it('shows the archive, fleet, jobs and agents pages', async () => {
    await page.goto(`${api}/#/archive`);
    await page.getByTestId('archive-level').getByText('default').click();
    await page.getByTestId('archive-level').getByText(STREAM).click();
    await page.getByTestId('archive-records').getByText('hello').click();
    await page.getByTestId('record-data').waitFor();
    await shot('11-archive');

    await page.goto(`${api}/#/fleet`);
    await page.getByTestId('fleet-members').locator('tbody tr').first().waitFor();
    await page.getByTestId('fleet-gateways').waitFor();
    await shot('12-fleet');

    await page.goto(`${api}/#/jobs`);
    const rows = page.getByTestId('jobs-table').locator('tbody tr');
    await rows.first().waitFor();
    expect(await rows.count()).toBeGreaterThanOrEqual(2);
    await shot('13-jobs');
    await rows.filter({ hasText: GRAPH }).first().click();
    await page.getByTestId('propagation').waitFor();
    await shot('14-job-detail');

    // A second version through the editor, then a rollback to the first from the history.
    await page.goto(`${api}/#/graphs/${GRAPH}/edit`);
    const editor = page.locator('textarea[name=definition]');
    await expect.poll(() => editor.inputValue()).toContain('checkout-errors');
    await editor.fill((await editor.inputValue()).replace(/^description: .*$/m, 'description: request counts, payment errors (v2)'));
    await page.getByTestId('valid').waitFor();
    await page.getByTestId('apply').click();
    await page.locator('[data-job-state=active]').waitFor({ timeout: 40_000 });
    await page.goto(`${api}/#/graphs/${GRAPH}/history`);
    const history = page.getByTestId('history-table');
    await expect.poll(() => history.locator('tbody tr').count()).toBe(2);
    await history.getByRole('button', { name: /Roll back to v/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('The whole store').waitFor();
    await shot('15-graph-rollback-confirm');
    await dialog.getByRole('button', { name: /Roll back to v/ }).click();
    await page.locator('[data-job-state=active]').waitFor({ timeout: 40_000 });
    await expect.poll(() => history.locator('tbody tr').count()).toBe(3);
    await shot('16-graph-history');

    await page.goto(`${api}/#/agents`);
    await page.getByRole('button', { name: /^metric/ }).click();
    await page.locator('.table-options').getByText('bucketsMinutes').waitFor();
    await shot('17-agents');

    expect(browserErrors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
  });
});

/** The test's graph: a metric counting records, an alarm on ERROR lines, an archive of everything. */
function graphYaml(o: { metricType: string; archiveInput: string }): string {
  return `name: ${GRAPH}
description: request counts and payment errors of the storefront
streams: [${STREAM}]
nodes:
  - id: count
    type: ${o.metricType}
    inputs: [source]
    config: { groupBy: [], bucketsMinutes: [1], idleFlushMs: 300 }
  - id: errors
    type: alarm
    inputs: [source]
    config:
      rules:
        - name: checkout-errors
          pattern: ERROR
  - id: store
    type: archive
    inputs: [${o.archiveInput}]
`;
}
