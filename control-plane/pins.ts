// Operator pins: an endpoint an operator moved by hand (`roam migrate`) stays where they put it. The placement
// loop leaves a pinned endpoint alone until the operator releases it (`roam resume NAME`) or the expiry they
// chose passes. Pins live in the control plane's state, so a restart or a leader change keeps them.
import type { State } from './state.ts';

export interface Pin {
  /** The manual migration that set it. */
  migration: number;
  /** When it was set, and when it lapses (ISO 8601); no `until`: until released. */
  at: string;
  until?: string;
}

const KEY = 'pins';

export class Pins {
  private readonly state: State;

  constructor(state: State) {
    this.state = state;
  }

  /** Every pin in force at `now` (a pin past its expiry no longer counts, even before sweep() drops it). */
  all(now = Date.now()): Record<string, Pin> {
    const pins = this.stored();
    for (const [endpoint, pin] of Object.entries(pins)) if (lapsed(pin, now)) delete pins[endpoint];
    return pins;
  }

  of(endpoint: string, now = Date.now()): Pin | undefined {
    return this.all(now)[endpoint];
  }

  /** Drops pins whose expiry passed, recording each; the leader does this (a follower only reads). */
  sweep(now = Date.now()): void {
    const pins = this.stored();
    const expired = Object.entries(pins).filter(([, p]) => lapsed(p, now));
    if (expired.length === 0) return;
    for (const [endpoint, pin] of expired) {
      delete pins[endpoint];
      this.state.record('pin-expired', endpoint, { migration: pin.migration, until: pin.until });
    }
    this.state.setSetting(KEY, pins);
  }

  /** Pins `endpoint` for `forMs` (absent: until released). */
  set(endpoint: string, migration: number, forMs?: number): Pin {
    const now = Date.now();
    const pin: Pin = {
      migration,
      at: new Date(now).toISOString(),
      ...(forMs !== undefined ? { until: new Date(now + forMs).toISOString() } : {}),
    };
    this.state.setSetting(KEY, { ...this.stored(), [endpoint]: pin });
    this.state.record('pin', endpoint, { ...pin });
    return pin;
  }

  /** Releases the pin on `endpoint`; whether there was one. */
  release(endpoint: string): boolean {
    const pins = this.stored();
    const pin = pins[endpoint];
    if (!pin) return false;
    delete pins[endpoint];
    this.state.setSetting(KEY, pins);
    this.state.record('pin-released', endpoint, { migration: pin.migration });
    return true;
  }

  private stored(): Record<string, Pin> {
    return this.state.setting<Record<string, Pin>>(KEY) ?? {};
  }
}

const lapsed = (pin: Pin, now: number) => pin.until !== undefined && Date.parse(pin.until) <= now;
