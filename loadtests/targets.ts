// Entry points of a load run: "SITE=URL" pairs, from `roam load --target` and from the k6 script's TARGETS.
// A bare URL stands for every origin the scenario has.

/** Parses `SITE=URL` specs; a bare URL is filed under "*", the fallback for origins without their own. */
export function parseTargets(specs: string[]): Record<string, string> {
  const targets: Record<string, string> = {};
  for (const spec of specs) {
    const m = /^([A-Za-z0-9._-]+)=(.+)$/.exec(spec);
    if (m) targets[m[1]!] = m[2]!.replace(/\/$/, '');
    else targets['*'] = spec.replace(/\/$/, '');
  }
  return targets;
}

/** Gives every origin its URL, the "*" one where it has none of its own. */
export function targetsFor(origins: string[], targets: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [site, url] of Object.entries(targets)) if (site !== '*') out[site] = url;
  const fallback = targets['*'];
  if (fallback !== undefined) for (const o of origins) out[o] ??= fallback;
  return out;
}
