// The headline workload: where traffic comes from moves between device, edge and cluster over the phases, and
// the mix moves with it (cheap compute from devices, carts and checkouts from the edge, batch checkouts in the
// cluster), so the best placement for each endpoint changes during the run.
import type { Scenario } from '../scenario.ts';
import { shopRequests } from './shop.ts';

export const shifting: Scenario = {
  name: 'shifting',
  description: 'origins move device -> edge -> cluster -> device; a data-heavy cart and a chatty checkout',
  users: 200,
  skus: 50,
  requests: shopRequests,
  phases: [
    {
      name: 'devices',
      durationS: 60,
      rate: 40,
      origins: { device: 8, edge: 1, cluster: 1 },
      mix: { hello: 6, 'cart-add': 2, 'cart-view': 1, checkout: 1 },
    },
    {
      name: 'edge-shopping',
      durationS: 60,
      rate: 40,
      origins: { device: 1, edge: 8, cluster: 1 },
      mix: { hello: 1, 'cart-add': 4, 'cart-view': 3, checkout: 2 },
    },
    {
      name: 'cluster-checkout',
      durationS: 60,
      rate: 40,
      origins: { device: 1, edge: 1, cluster: 8 },
      mix: { 'cart-add': 2, 'cart-view': 1, checkout: 5, pricing: 2 },
    },
    {
      name: 'devices-again',
      durationS: 60,
      rate: 40,
      origins: { device: 8, edge: 1, cluster: 1 },
      mix: { hello: 4, 'cart-add': 2, 'cart-view': 2, checkout: 2 },
    },
  ],
};
