// An assignment of agents to hosts with its running capacity and replica counts, and the cost of one agent
// where it sits or might sit: the one place the heuristic, the rounding and the conversions share.
import { agentAllowed, type Instance, pairCost } from './compile.ts';

const EPS = 1e-9;

export class State {
  readonly x: Instance;
  /** Host of each agent, -1 while unplaced. */
  readonly host: Int32Array;
  readonly cpu: Float64Array;
  readonly mem: Float64Array;
  /** E x H: agents of the endpoint on the host. */
  readonly count: Int32Array;
  /** Hosts each endpoint runs on. */
  readonly replicas: Int32Array;

  constructor(x: Instance) {
    this.x = x;
    this.host = new Int32Array(x.A).fill(-1);
    this.cpu = Float64Array.from(x.capCpu);
    this.mem = Float64Array.from(x.capMem);
    this.count = new Int32Array(x.E * x.H);
    this.replicas = new Int32Array(x.E);
  }

  clone(): State {
    const s = new State(this.x);
    s.host.set(this.host);
    s.cpu.set(this.cpu);
    s.mem.set(this.mem);
    s.count.set(this.count);
    s.replicas.set(this.replicas);
    return s;
  }

  /** Whether agent a fits on host h as things stand (policy, CPU, and memory and replica count if new there). */
  fits(a: number, h: number): boolean {
    const x = this.x;
    if (!agentAllowed(x, a, h)) return false;
    if (x.load[a * x.Z + x.hostZone[h]!]! > this.cpu[h]! + EPS * Math.max(1, x.capCpu[h]!)) return false;
    const e = x.agentEndpoint[a]!;
    if (this.count[e * x.H + h]! > 0) return true;
    return (
      this.replicas[e]! < x.maxReplicas[e]! && x.memory[e]! <= this.mem[h]! + EPS * Math.max(1, x.capMem[h]!)
    );
  }

  add(a: number, h: number): void {
    const x = this.x;
    const e = x.agentEndpoint[a]!;
    this.host[a] = h;
    this.cpu[h] = this.cpu[h]! - x.load[a * x.Z + x.hostZone[h]!]!;
    if (this.count[e * x.H + h]!++ === 0) {
      this.mem[h] = this.mem[h]! - x.memory[e]!;
      this.replicas[e]!++;
    }
  }

  remove(a: number): void {
    const x = this.x;
    const h = this.host[a]!;
    const e = x.agentEndpoint[a]!;
    this.host[a] = -1;
    this.cpu[h] = this.cpu[h]! + x.load[a * x.Z + x.hostZone[h]!]!;
    if (--this.count[e * x.H + h]! === 0) {
      this.mem[h] = this.mem[h]! + x.memory[e]!;
      this.replicas[e]!--;
    }
  }

  /** Migration cost agent a adds by being on host h (it starts a replica there), given where it is not. */
  migration(a: number, h: number): number {
    const x = this.x;
    const e = x.agentEndpoint[a]!;
    const i = e * x.H + h;
    const alone = this.host[a] === h ? this.count[i] === 1 : this.count[i] === 0;
    return alone && x.current[i] === 0 ? x.moveCost[e]! : 0;
  }

  /** Call costs of agent a in every zone, with its placed neighbours where they are. */
  pairCosts(a: number, out: Float64Array): Float64Array {
    const x = this.x;
    out.fill(0);
    for (const k of x.pairsOf[a]!) {
      const caller = x.pairA[k] === a;
      const n = caller ? x.pairB[k]! : x.pairA[k]!;
      const hn = this.host[n]!;
      if (hn < 0) continue;
      const zn = x.hostZone[hn]!;
      for (let z = 0; z < x.Z; z++)
        out[z] = out[z]! + (caller ? pairCost(x, k, z, zn) : pairCost(x, k, zn, z));
    }
    return out;
  }

  /** The cost agent a carries on host h: its own, its calls to placed neighbours, and its migration share. */
  cost(a: number, h: number): number {
    const x = this.x;
    const z = x.hostZone[h]!;
    let c = x.zoneCost[a * x.Z + z]! + this.migration(a, h);
    for (const k of x.pairsOf[a]!) {
      const caller = x.pairA[k] === a;
      const hn = this.host[caller ? x.pairB[k]! : x.pairA[k]!]!;
      if (hn < 0) continue;
      c += caller ? pairCost(x, k, z, x.hostZone[hn]!) : pairCost(x, k, x.hostZone[hn]!, z);
    }
    return c;
  }

  /** The objective of a complete assignment. */
  total(): number {
    const x = this.x;
    let c = 0;
    for (let a = 0; a < x.A; a++) c += x.zoneCost[a * x.Z + x.hostZone[this.host[a]!]!]!;
    for (let k = 0; k < x.P; k++)
      c += pairCost(x, k, x.hostZone[this.host[x.pairA[k]!]!]!, x.hostZone[this.host[x.pairB[k]!]!]!);
    for (let e = 0; e < x.E; e++)
      for (let h = 0; h < x.H; h++)
        if (this.count[e * x.H + h]! > 0 && x.current[e * x.H + h] === 0) c += x.moveCost[e]!;
    return c;
  }

  unplaced(): number[] {
    const out: number[] = [];
    this.host.forEach((h, a) => {
      if (h < 0) out.push(a);
    });
    return out;
  }
}
