#!/usr/bin/env node
import '../dist/cli/logfsctl.js';
