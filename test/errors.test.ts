// Every error code in the catalogue is documented, with the status the code actually answers with.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, errorFromCode, NotFoundError, RoamError, toRoamError } from '../core/errors.ts';

describe('error catalogue', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

  it('documents every code with its status', () => {
    for (const [code, status] of Object.entries(ERROR_CODES)) {
      expect(doc, code).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`));
    }
  });

  it('keeps class, code and status together, and survives a trip through {code, message}', () => {
    const err = new NotFoundError('no such thing', { endpoint: 'cart' });
    expect(err).toBeInstanceOf(RoamError);
    expect(err.name).toBe('NotFoundError');
    expect([err.code, err.status]).toEqual(['ROAM_ERR_NOT_FOUND', 404]);
    expect(err.toJSON()).toEqual({ error: 'ROAM_ERR_NOT_FOUND', message: 'no such thing', endpoint: 'cart' });
    const back = errorFromCode(err.code, err.message, 'cart');
    expect([back.code, back.status, back.endpoint]).toEqual(['ROAM_ERR_NOT_FOUND', 404, 'cart']);
    expect(toRoamError(new Error('boom')).code).toBe('ROAM_ERR_INTERNAL');
  });
});
