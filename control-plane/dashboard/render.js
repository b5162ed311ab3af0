// Draws one state snapshot (the shape dashboardState() in control-plane/dashboard.ts builds) into the page.
// Each section is rebuilt whole from the snapshot; only the latency history for the sparklines lives here.

const TIERS = ['in-process', 'cluster', 'edge', 'device'];
const TIER_LABELS = {
  'in-process': 'In-process (proxies)',
  cluster: 'Cluster',
  edge: 'Edge',
  device: 'Device',
};
const STEPS = ['prepare', 'ready', 'shift', 'verify', 'drain', 'retire', 'done'];
/** Seconds of p99 history each sparkline shows; per endpoint, the samples [{t, v}] within it. */
const HISTORY = 60;
const history = new Map();

function remember(name, value, now) {
  const samples = (history.get(name) ?? []).filter((p) => now - p.t < HISTORY * 1000);
  if (value !== null && value !== undefined) samples.push({ t: now, v: value });
  history.set(name, samples);
  return samples;
}

/** An element with attributes and children; strings become text nodes, so nothing from the server is parsed. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

const ms = (v) =>
  v === null || v === undefined ? '—' : v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
const rate = (v) => (v === null || v === undefined ? '—' : `${v < 10 ? v.toFixed(1) : Math.round(v)}/s`);
const seconds = (v) =>
  v === undefined ? '' : v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(1)} s`;
const shortDigest = (d) => d.replace(/^sha256:/, '').slice(0, 10);

function tierOf(nodes, id) {
  return nodes.find((n) => n.id === id)?.tier ?? 'unknown';
}

function hostChip(nodes, id, detail = '') {
  return h('span', { class: `chip tier-${tierOf(nodes, id)}`, title: `${tierOf(nodes, id)}${detail}` }, id);
}

function table(head, rows) {
  const th = head.map((c) => h('th', null, c));
  return h('table', null, h('thead', null, h('tr', null, th)), h('tbody', null, rows));
}

function empty(text) {
  return h('p', { class: 'empty' }, text);
}

function renderHosts(state) {
  const tiers = [...TIERS, ...new Set(state.nodes.map((n) => n.tier).filter((t) => !TIERS.includes(t)))];
  return tiers.map((tier) => {
    const nodes = state.nodes.filter((n) => n.tier === tier);
    return h(
      'div',
      { class: `tier tier-${tier}`, 'data-tier': tier },
      h('h3', null, TIER_LABELS[tier] ?? tier, h('span', { class: 'count' }, String(nodes.length))),
      nodes.length === 0
        ? empty('none')
        : nodes.map((n) => {
            const running = [...new Set(n.ready.map((r) => r.split('@')[0]))];
            const health = n.status !== 'up' ? 'down' : n.inSync ? 'up' : 'syncing';
            return h(
              'article',
              { class: `node ${health}`, 'data-node': n.id, 'data-status': n.status },
              h(
                'header',
                null,
                h('span', { class: 'dot', title: health }),
                h('strong', null, n.id),
                n.kind === 'proxy' ? h('span', { class: 'tag' }, 'proxy') : null,
                h('span', { class: 'status' }, health),
              ),
              h(
                'p',
                { class: 'site' },
                `site ${n.site}`,
                n.inFlight === null ? '' : ` · ${n.inFlight} in flight`,
              ),
              running.length
                ? h(
                    'p',
                    { class: 'running' },
                    running.map((e) => h('span', { class: 'pill' }, e)),
                  )
                : null,
            );
          }),
    );
  });
}

/** The samples of the last HISTORY seconds, by time, scaled to the largest. */
function sparkline(samples, now) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${HISTORY} 20`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('class', 'spark');
  if (samples.length > 1) {
    const max = Math.max(...samples.map((p) => p.v), 1);
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    const xy = samples.map((p) => `${HISTORY - (now - p.t) / 1000},${19 - (p.v / max) * 18}`);
    line.setAttribute('points', xy.join(' '));
    svg.append(line);
  }
  return svg;
}

function renderEndpoints(state, now) {
  if (state.endpoints.length === 0)
    return empty('No endpoints deployed yet: roam deploy MODULE --endpoint NAME.');
  const moving = new Map(state.migrations.active.map((m) => [m.endpoint, m]));
  const rows = state.endpoints.map((e) => {
    const t = e.traffic;
    const samples = remember(e.name, t?.p99Ms, now);
    const m = moving.get(e.name);
    const onHost = (id) => {
      const p = t?.hosts.find((x) => x.host === id);
      return p ? ` · here p50 ${ms(p.p50Ms)}, p99 ${ms(p.p99Ms)}, ${rate(p.invocationsPerSecond)}` : '';
    };
    return h(
      'tr',
      { 'data-endpoint': e.name },
      h('td', null, h('strong', null, e.name), h('div', { class: 'muted' }, e.routes.join(', '))),
      h(
        'td',
        { 'data-field': 'version' },
        e.legacy ? '—' : `v${e.version}`,
        e.legacy ? null : h('div', { class: 'muted mono' }, shortDigest(e.digest)),
      ),
      h(
        'td',
        { 'data-field': 'placement' },
        e.legacy ? h('span', { class: 'muted' }, 'legacy service (not placed)') : null,
        e.placement.map((id) => hostChip(state.nodes, id, onHost(id))),
        m
          ? h(
              'span',
              { class: 'moving' },
              `moving → ${m.to.join(', ')} (${m.step}${m.shift ? ` ${m.shift * 100}%` : ''})`,
            )
          : null,
      ),
      h('td', { class: 'num', 'data-field': 'rate' }, rate(t?.requestsPerSecond)),
      h('td', { class: 'num', 'data-field': 'p50' }, ms(t?.p50Ms)),
      h('td', { class: 'num', 'data-field': 'p99' }, ms(t?.p99Ms)),
      h('td', null, sparkline(samples, now)),
      h('td', { class: 'num' }, t ? `${(t.errorRate * 100).toFixed(1)}%` : '—'),
    );
  });
  const head = ['endpoint', 'version', 'placement', 'rate', 'p50', 'p99', `p99, last ${HISTORY} s`, 'errors'];
  return table(head, rows);
}

function gain(m) {
  const predicted = m.predictedGain === null ? '' : `predicted gain ${Math.round(m.predictedGain)} ms·req/s`;
  if (m.measuredGainMs !== null) return `measured gain ${ms(m.measuredGainMs)} per request (${predicted})`;
  if (!predicted) return m.reason === 'manual' ? 'manual move' : m.reason;
  if (m.outcome === 'done') return `${predicted}, measuring…`;
  return m.outcome === 'rolled-back' || m.outcome === 'superseded' ? `${predicted}, not realised` : predicted;
}

function renderMigration(state, m, now) {
  const visited = new Set(m.steps.map((s) => s.step));
  // A move that left the usual path (rolled back, or superseded by an operator's move) shows the steps it took.
  const offPath = m.outcome === 'rolled-back' || m.outcome === 'superseded' || visited.has('rollback');
  const track = offPath ? m.steps.map((s) => s.step) : STEPS;
  const done = m.outcome !== null;
  const elapsed = done ? m.timings.done : now - m.startedAt;
  return h(
    'article',
    {
      class: `migration ${m.outcome ?? 'active'}`,
      'data-migration': String(m.id),
      'data-endpoint': m.endpoint,
      'data-step': m.step,
      'data-outcome': m.outcome ?? 'active',
    },
    h(
      'header',
      null,
      h('strong', null, m.endpoint),
      h(
        'span',
        { class: 'route' },
        m.from.map((id) => hostChip(state.nodes, id)),
        ' → ',
        m.to.map((id) => hostChip(state.nodes, id)),
      ),
      h('span', { class: 'outcome' }, m.outcome ?? m.step),
    ),
    h(
      'ol',
      { class: 'steps' },
      track.map((s, i) => {
        const at = track.indexOf(m.step);
        const cls =
          s === m.step
            ? done
              ? 'passed'
              : 'current'
            : i < at || (done && visited.has(s))
              ? 'passed'
              : 'todo';
        return h('li', { class: `${cls} ${s}` }, s);
      }),
    ),
    h('p', { class: 'muted' }, `#${m.id} · ${seconds(elapsed)} · ${gain(m)}`, m.why ? ` · ${m.why}` : ''),
  );
}

function renderMigrations(state, now) {
  const all = [...state.migrations.active, ...state.migrations.recent];
  if (all.length === 0) return [empty('No migrations yet.')];
  return all.slice(0, 8).map((m) => renderMigration(state, m, now));
}

function renderDecisions(state) {
  if (state.decisions.length === 0) {
    return empty('No decisions yet: the placement loop records one for every move it makes.');
  }
  const head = ['time', 'endpoint', 'move', 'predicted', 'measured', 'status'];
  const rows = state.decisions.map((d) =>
    h(
      'tr',
      { 'data-decision': String(d.id), title: d.why ?? '' },
      h('td', { class: 'muted num' }, new Date(d.at).toLocaleTimeString()),
      h('td', null, h('strong', null, d.endpoint), h('div', { class: 'muted' }, d.trigger)),
      h(
        'td',
        null,
        d.from.map((id) => hostChip(state.nodes, id)),
        ' → ',
        d.to.map((id) => hostChip(state.nodes, id)),
      ),
      h('td', { class: 'num' }, `${Math.round(d.predictedGain)} ms·req/s`),
      h('td', { class: 'num' }, d.measuredGainMs === null ? '—' : `${ms(d.measuredGainMs)}/req`),
      h('td', null, h('span', { class: `badge ${d.status}` }, d.status)),
    ),
  );
  return table(head, rows);
}

/** Replaces every section of the page with what `state` says; `now` dates the running migrations. */
export function render(state, now) {
  const section = (name) => document.querySelector(`[data-section="${name}"]`);
  section('hosts').replaceChildren(...renderHosts(state));
  section('endpoints').replaceChildren(renderEndpoints(state, now));
  section('migrations').replaceChildren(...renderMigrations(state, now));
  section('decisions').replaceChildren(renderDecisions(state));
}
