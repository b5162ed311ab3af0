#!/usr/bin/env node
// Entry point of the `roam` command (see cli/main.ts).
import { main } from '../cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
