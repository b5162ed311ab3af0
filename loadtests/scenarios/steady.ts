// A baseline: the same mix from every origin at one rate, so placements should settle and stay put.
import type { Scenario } from '../scenario.ts';
import { shopRequests } from './shop.ts';

export const steady: Scenario = {
  name: 'steady',
  description: 'one mix from device, edge and cluster at a constant rate',
  users: 200,
  skus: 50,
  requests: shopRequests,
  phases: [
    {
      name: 'steady',
      durationS: 120,
      rate: 30,
      origins: { device: 1, edge: 1, cluster: 1 },
      mix: { hello: 3, 'cart-add': 2, 'cart-view': 2, checkout: 2, pricing: 1 },
    },
  ],
};
