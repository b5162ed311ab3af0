// A shifting workload whose requests mostly need the cluster's data: origins move between device, edge and
// cluster, but every phase sends carts and checkouts from every site. Their best place is by their stores
// whatever the origin, so each origin pays its distance to the cluster under any placement, adaptive or not:
// the run shows what placement cannot buy (README, "Adaptive placement against static placements").
import type { Scenario } from '../scenario.ts';
import { shopRequests } from './shop.ts';

export const dataBound: Scenario = {
  name: 'data-bound',
  description: "origins move device -> edge -> cluster -> device; most requests need the cluster's data",
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
