// The network relay's public surface: topology files, the plan from topology and nodes to routes and network
// maps, and the relay that applies each link to the bytes crossing it.
export { type MeshNode, networkMaps, planRelay, planRoutes, type RelayPlan } from './plan.ts';
export { Relay, type RelayRoute, retransmissionTimeout } from './relay.ts';
export {
  DEFAULT_TOPOLOGY_FILE,
  type Link,
  linkTable,
  loadTopology,
  parseTopology,
  SITE_TIERS,
  type SiteTier,
  type Topology,
} from './topology.ts';
