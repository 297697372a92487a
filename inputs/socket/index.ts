/** The plain socket input's public face (docs/socket-protocol.md). */
export {
  parseSocketInputConfig,
  SOCKET_INPUT_DEFAULTS,
  SocketInputConfigSchema,
  startSocketInput,
  type SocketInput,
  type SocketInputConfig,
  type SocketInputConfigInput,
  type SocketInputStats,
} from './socket-input.js';
export { ERR_CODES, formatHeader, parseReply, PROTOCOL_VERSION, type ErrCode, type ServerReply } from './socket-protocol.js';
