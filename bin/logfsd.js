#!/usr/bin/env -S node --max-semi-space-size=4
// The flags are cli/node-flags.ts' LOGFSD_NODE_FLAGS (a unit test keeps them the same).
import '../dist/cli/logfsd.js';
