/**
 * V8 flags logFS's programs run with, where they help. Kept here so that everything that starts
 * them (the bin scripts' first lines, the benchmarks) uses the same; a unit test checks the bin
 * scripts.
 *
 * logfsctl (and so `logfsctl pipeline run`, the pipeline worker): a young generation of 2 × 32 MiB
 * instead of Node's 2 × 16 MiB. A worker keeps every record of a fetched batch alive while it runs
 * the batch through its graph, so with the default many of them are copied by each scavenge and
 * then promoted; the larger one took parse → filter → metric → archive from about 20 to 23 MiB/s of
 * input per core (npm run bench:pipeline). It costs up to 32 MiB more resident memory when busy.
 * `logfsctl up` runs the daemon in this process too, so it has this young generation.
 */
export const LOGFSCTL_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];

/**
 * logfsd (and `logfsd gateway`): a young generation of 2 × 4 MiB instead of Node's 2 × 16 MiB. Its
 * hot path allocates little that lives (journal entries are framed into reused slabs), so the
 * default mostly held garbage: peak resident memory under 64 KiB writes went from 208–241 MB to
 * about 187 MB with no loss of throughput (npm run bench:write). Everything that starts logfsd
 * passes these: bin/logfsd.js' first line, `logfsctl mount`, the mount helper
 * (scripts/mount.fuse.logfs.in), the benchmarks and the integration tests.
 */
export const LOGFSD_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
