#!/usr/bin/env -S node --max-semi-space-size=32
// The flags are cli/node-flags.ts' LOGFSCTL_NODE_FLAGS (a unit test keeps them the same).
import '../dist/cli/logfsctl.js';
