/** The custom agents' sandbox: a user module in a vm context inside a limited child process. */
export { SANDBOX_DEFAULTS, SandboxHost, type BatchOutcome, type SandboxConfig, type SandboxEntry, type SandboxStats } from './sandbox-host.js';
