// Every scenario by name: what `roam load --scenario NAME` and the k6 script (`-e SCENARIO=NAME`) run.
import type { Scenario } from '../scenario.ts';
import { dataBound } from './data-bound.ts';
import { shifting } from './shifting.ts';
import { steady } from './steady.ts';

export const scenarios: Record<string, Scenario> = { shifting, 'data-bound': dataBound, steady };
