// Fleet: every daemon, pipeline worker and control service that reports in, by host, with gateway
// throughput, journal depth, pipeline lag and the store version each one applied.
import { get } from '../api/client';
import type { FleetMember, FleetView } from '../api/types';
import { Badge, StateBadge } from '../components/badge';
import { Card, EmptyState, ErrorBanner, Loading, PageHeader, Stat } from '../components/page';
import { fmtAgo, fmtBytes, fmtNum, fmtRate } from '../format';
import { href } from '../router';
import { useSession } from '../session';
import { useApi } from '../use-api';

export function FleetPage() {
  const session = useSession();
  const fleet = useApi(() => get<FleetView>('fleet'), [], 2000);
  const members = fleet.data?.members ?? [];
  const alive = members.filter((m) => m.alive);
  const hosts = [...new Set(members.map((m) => m.host))].sort();
  const daemons = members.filter((m) => m.gateway);
  const workers = members.filter((m) => m.pipeline);
  const rate = daemons.filter((m) => m.alive).reduce((s, m) => s + (m.gateway?.ratePerSec ?? 0), 0);
  const journal = daemons.reduce((s, m) => s + (m.gateway?.journalBytes ?? 0), 0);
  const lags = workers.flatMap((m) => Object.values(m.pipeline?.graphs ?? {}).map((g) => g.lag ?? 0));
  const behind = alive.filter((m) => session.version !== null && m.storeVersion < session.version);

  return (
    <>
      <PageHeader title="Fleet" subtitle="Hosts and the processes that report to the control service every second." />
      <ErrorBanner error={fleet.error} onRetry={fleet.reload} />
      {fleet.loading && !fleet.data ? (
        <Loading />
      ) : members.length === 0 ? (
        <Card>
          <EmptyState icon="▣" title="No member has reported yet">
            Start a host with <code>logfsctl up</code> (or <code>logfsd</code>), and pipeline workers with <code>logfsctl pipeline run</code>; they appear here within a second.
          </EmptyState>
        </Card>
      ) : (
        <>
          <div className="stats-row">
            <Stat label="Members alive" value={`${alive.length} / ${members.length}`} hint={`on ${hosts.length} host${hosts.length === 1 ? '' : 's'}`} />
            <Stat label="Gateway throughput" value={fmtRate(rate, ' rec/s')} hint={`${daemons.length} gateway${daemons.length === 1 ? '' : 's'}`} />
            <Stat label="Journal" value={fmtBytes(journal)} hint="held on the hosts' disks" />
            <Stat label="Pipeline lag" value={lags.length ? fmtNum(Math.max(...lags)) : '—'} hint="largest, records" />
            <Stat label="Store version" value={`v${session.version ?? '…'}`} hint={behind.length ? `${behind.length} member${behind.length === 1 ? '' : 's'} behind` : 'all members current'} />
          </div>
          <Card title="Members" flush>
            <table className="table" data-testid="fleet-members">
              <thead>
                <tr>
                  <th>Member</th>
                  <th>Kind</th>
                  <th>Host</th>
                  <th>Instance</th>
                  <th>Provider</th>
                  <th>Mount</th>
                  <th className="num">Store</th>
                  <th>Last seen</th>
                </tr>
              </thead>
              <tbody>
                {members.map((m) => (
                  <tr key={m.id} className={m.alive ? '' : 'row-dim'}>
                    <td>
                      <div className="cell-main mono">{m.id}</div>
                      <div className="cell-sub">pid {m.pid}</div>
                    </td>
                    <td>
                      <KindBadge kind={m.kind} />
                    </td>
                    <td>{m.host}</td>
                    <td className="mono">
                      <span className="truncate" title={m.instance}>
                        {m.instance ?? '—'}
                      </span>
                    </td>
                    <td>{m.provider ?? '—'}</td>
                    <td className="mono">{m.mount ?? '—'}</td>
                    <td className="num">
                      v{m.storeVersion}
                      {session.version !== null && m.storeVersion < session.version && m.alive && (
                        <>
                          {' '}
                          <Badge tone="warn">behind</Badge>
                        </>
                      )}
                    </td>
                    <td className="nowrap">
                      <StateBadge state={m.alive ? 'alive' : 'stale'} /> <span className="muted small">{fmtAgo(m.seenAt)}</span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Card>
          <div className="grid-gateways">
            <Card title="Gateways" flush>
              {daemons.length === 0 ? (
                <EmptyState icon="▣" title="No gateway reports" />
              ) : (
                <table className="table" data-testid="fleet-gateways">
                  <thead>
                    <tr>
                      <th>Instance</th>
                      <th className="num">Rate</th>
                      <th className="num">Records in</th>
                      <th className="num">To Kafka</th>
                      <th className="num">Bytes in</th>
                      <th>Journal depth</th>
                    </tr>
                  </thead>
                  <tbody>
                    {daemons.map((m) => (
                      <GatewayRow key={m.id} m={m} />
                    ))}
                  </tbody>
                </table>
              )}
            </Card>
            <Card title="Pipelines" flush>
              {workers.length === 0 ? (
                <EmptyState icon="▣" title="No pipeline worker reports" />
              ) : (
                <table className="table" data-testid="fleet-pipelines">
                  <thead>
                    <tr>
                      <th>Worker</th>
                      <th>Graph</th>
                      <th className="num">Version</th>
                      <th>State</th>
                      <th className="num">Lag</th>
                    </tr>
                  </thead>
                  <tbody>
                    {workers.flatMap((m) =>
                      Object.entries(m.pipeline?.graphs ?? {}).map(([g, s]) => (
                        <tr key={`${m.id}/${g}`}>
                          <td className="mono">
                            <span className="truncate" title={m.id}>
                              {m.instance ?? m.id}
                            </span>
                          </td>
                          <td>
                            <a href={href('graphs', g)}>{g}</a>
                          </td>
                          <td className="num">v{s.version}</td>
                          <td>
                            <StateBadge state={s.state} />
                          </td>
                          <td className="num">{s.lag === null ? '—' : fmtNum(s.lag)}</td>
                        </tr>
                      )),
                    )}
                  </tbody>
                </table>
              )}
            </Card>
          </div>
        </>
      )}
    </>
  );
}

function KindBadge({ kind }: { kind: FleetMember['kind'] }) {
  return <Badge tone={kind === 'daemon' ? 'accent' : kind === 'worker' ? 'info' : 'muted'}>{kind}</Badge>;
}

function GatewayRow({ m }: { m: FleetMember }) {
  const g = m.gateway;
  if (!g) return null;
  const unacked = g.journalBytes ? g.journalUnackedBytes / g.journalBytes : 0;
  return (
    <tr>
      <td className="mono">
        <span className="truncate" title={m.instance ?? m.id}>
          {m.instance ?? m.id}
        </span>
      </td>
      <td className="num strong">{fmtRate(g.ratePerSec)}</td>
      <td className="num">{fmtNum(g.recordsIn)}</td>
      <td className="num">{fmtNum(g.recordsOut)}</td>
      <td className="num">{fmtBytes(g.bytesIn)}</td>
      <td>
        <div className="meter" title={`${fmtBytes(g.journalUnackedBytes)} not yet acknowledged by Kafka`}>
          <div className="meter-bar" style={{ width: `${Math.min(100, unacked * 100)}%` }} />
        </div>
        <span className="small muted">
          {fmtBytes(g.journalBytes)}
          {g.journalUnackedBytes > 0 && ` · ${fmtBytes(g.journalUnackedBytes)} unacked`}
        </span>
      </td>
    </tr>
  );
}
