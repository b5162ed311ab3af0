// The headline workload: where traffic enters moves device -> edge -> cluster -> device, and what it asks for
// moves with it. Devices and the edge greet and resize images (stateless work that can run wherever its
// callers are); the cluster's backends keep carts and check out (data-bound work whose stores live in the
// cluster, and the chatty checkout -> cart, pricing). Phase 1 comes from devices alone; the later phases carry
// some traffic from the other sites too, as real shifts ramp. The best placement for phase 1 is wrong for the
// phases after it, which is what adaptive placement is for.
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
      origins: { device: 1 },
      mix: { hello: 7, resize: 3 },
    },
    {
      name: 'edge',
      durationS: 60,
      rate: 40,
      origins: { device: 1, edge: 18, cluster: 1 },
      mix: { hello: 6, resize: 4 },
    },
    {
      name: 'cluster-checkout',
      durationS: 60,
      rate: 40,
      origins: { cluster: 1 },
      mix: { 'cart-add': 3, 'cart-view': 2, checkout: 3, pricing: 1, hello: 1, resize: 1 },
    },
    {
      name: 'devices-again',
      durationS: 60,
      rate: 40,
      origins: { device: 18, edge: 1, cluster: 1 },
      mix: { hello: 7, resize: 3 },
    },
  ],
};
