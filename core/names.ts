// The one name rule for endpoints and data stores, and the one place a name that arrived in a URL is decoded
// and checked. Everything that takes a name from the outside (the proxy's reserved paths, a host's /invoke,
// the control plane's deploy) goes through here, so a name that passed can be echoed into a header or a log.
import { BadRequestError, InvalidArgumentError } from './errors.ts';

/** 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit. */
export const NAME_RULE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const NAME_RULE_TEXT = '1-128 characters of [A-Za-z0-9._-], starting with a letter or digit';

export function isValidName(name: string): boolean {
  return NAME_RULE.test(name);
}

/** Quotes what a client sent for an error message: JSON escapes control characters, so nothing breaks a line. */
function quoted(raw: string): string {
  return JSON.stringify(raw.length > 200 ? `${raw.slice(0, 200)}...` : raw);
}

/** Throws InvalidArgumentError (400) unless `name` follows the rule; `what` says whose name it is. */
export function checkName(name: string, what: string): string {
  if (!NAME_RULE.test(name))
    throw new InvalidArgumentError(`${what} name ${quoted(name)} must be ${NAME_RULE_TEXT}`);
  return name;
}

/**
 * A name taken from one percent-encoded URL path segment: decoded, then checked against the rule. Bad
 * percent-encoding and names outside the rule are 400s that quote what was sent.
 */
export function nameFromPath(segment: string, what: string): string {
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    throw new BadRequestError(`${what} name ${quoted(segment)} is not valid percent-encoding`);
  }
  return checkName(name, what);
}
