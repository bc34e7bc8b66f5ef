#!/usr/bin/env node
// Thin launcher: the CLI itself is compiled TypeScript in dist/ (built by `npm ci` / `npm run build`).
import '../dist/cli/main.js';
