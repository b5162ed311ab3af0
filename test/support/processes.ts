// End-to-end tests start real `roam` processes through the same code `roam up` uses.
export { type RoamProcess, startRoam, stopAll } from '../../cli/spawn.ts';
