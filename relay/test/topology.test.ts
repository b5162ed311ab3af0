// Topology files: the shipped default, links filled in from tier defaults and paths, and bad files refused
// with the field named.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../core/errors.ts';
import { DEFAULT_TOPOLOGY_FILE, linkTable, loadTopology, parseTopology } from '../index.ts';

const three = {
  sites: { device: { tier: 'device' }, edge: { tier: 'edge' }, cluster: { tier: 'cluster' } },
};

describe('topology', () => {
  it('ships a default: device-edge 10 ms, edge-cluster 40 ms, device-cluster their sum, a site 0 from itself', () => {
    const link = linkTable(loadTopology(DEFAULT_TOPOLOGY_FILE));
    expect(link('device', 'edge').rttMs).toBe(10);
    expect(link('edge', 'cluster').rttMs).toBe(40);
    expect(link('cluster', 'device').rttMs).toBe(50);
    expect(link('cluster', 'device').bandwidthMbps).toBe(100);
    expect(link('edge', 'edge')).toEqual({ rttMs: 0, jitterMs: 0, bandwidthMbps: null, loss: 0 });
  });

  it('fills pairs the file leaves out from the tiers, and routes around a slow declared link', () => {
    expect(linkTable(parseTopology(three))('device', 'cluster').rttMs).toBe(50);
    const slow = parseTopology({
      ...three,
      links: [
        { between: ['device', 'cluster'], rttMs: 500 },
        { between: ['device', 'edge'], rttMs: 4, loss: 0.1 },
        { between: ['edge', 'cluster'], rttMs: 6, loss: 0.1 },
      ],
    });
    const link = linkTable(slow)('device', 'cluster');
    expect(link.rttMs).toBe(10);
    expect(link.loss).toBeCloseTo(0.19);
    expect(link.bandwidthMbps).toBeNull();
  });

  it.each([
    [[], 'topology: the file'],
    [{ sites: {} }, 'topology: sites'],
    [{ sites: { a: { tier: 'moon' } } }, 'topology: sites.a.tier'],
    [{ sites: { a: { tier: 'in-process' } } }, 'topology: sites.a.tier cannot be "in-process"'],
    [{ sites: { 'a b': { tier: 'edge' } } }, 'topology: sites.a b'],
    [{ sites: { a: { tier: 'edge', zone: 1 } } }, 'topology: sites.a.zone is not a known field'],
    [{ ...three, extra: 1 }, 'topology: topology.extra'],
    [{ ...three, links: {} }, 'topology: links must be an array'],
    [{ ...three, links: [{ between: ['device'], rttMs: 1 }] }, 'topology: links[0].between'],
    [{ ...three, links: [{ between: ['device', 'mars'], rttMs: 1 }] }, 'links[0].between names "mars"'],
    [
      { ...three, links: [{ between: ['edge', 'edge'], rttMs: 1 }] },
      'links[0].between must name two different',
    ],
    [{ ...three, links: [{ between: ['device', 'edge'] }] }, 'topology: links[0].rttMs must be'],
    [{ ...three, links: [{ between: ['device', 'edge'], rttMs: -1 }] }, 'links[0].rttMs'],
    [{ ...three, links: [{ between: ['device', 'edge'], rttMs: 1, jitterMs: 'x' }] }, 'links[0].jitterMs'],
    [
      { ...three, links: [{ between: ['device', 'edge'], rttMs: 1, bandwidthMbps: 0 }] },
      'links[0].bandwidthMbps',
    ],
    [{ ...three, links: [{ between: ['device', 'edge'], rttMs: 1, loss: 1 }] }, 'links[0].loss'],
    [
      { ...three, links: [{ between: ['device', 'edge'], rttMs: 1, delay: 3 }] },
      'links[0].delay is not a known field',
    ],
    [
      {
        ...three,
        links: [
          { between: ['device', 'edge'], rttMs: 1 },
          { between: ['edge', 'device'], rttMs: 2 },
        ],
      },
      'links[1].between repeats the link',
    ],
  ])('refuses %j naming the field', (file, message) => {
    expect(() => parseTopology(file)).toThrow(InvalidArgumentError);
    expect(() => parseTopology(file)).toThrow(message);
  });

  it('refuses a missing or malformed file with its name', () => {
    expect(() => loadTopology('/nonexistent/topology.json')).toThrow('topology /nonexistent/topology.json');
    expect(() => loadTopology(new URL('./topology.test.ts', import.meta.url).pathname)).toThrow(
      'not valid JSON',
    );
  });
});
