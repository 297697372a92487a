/** The archive's public face: the store the worker opens, the readers the CLI uses, the relays. */
export { ArchiveStore, ARCHIVE_STORE_DEFAULTS, type ArchiveStoreOptions, type ArchiveStoreSettings, type ArchiveStoreStats } from './archive-store.js';
export { listArchive, readArchive, readSegment, recordMatcher, ARCHIVE_QUERY_DEFAULTS, type ArchiveFilter, type ArchiveSegmentInfo, type ReadOptions } from './archive-query.js';
export { archivedData, LineEncoder, type ArchivedRecord, type ArchiveOrigin } from './archive-line.js';
export { openArchived, sealedMarker, sealForRest, type SealedParts } from './archive-sealing.js';
export { TcpRelay, TopicRelay, RelayEncoder, parseHostPort, TCP_RELAY_DEFAULTS, type TcpRelayOptions } from './relay.js';
export { newWriterId } from './archive-layout.js';
