#!/usr/bin/env node
import '../dist/cli/logfsd.js';
