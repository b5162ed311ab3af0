// The memory cap's limit comes from Node's --max-old-space-size, wherever the operator set it; a process
// started with a small old space sheds before V8 would kill it.
import { execFileSync } from 'node:child_process';
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { oldGenerationLimit } from '../memory-guard.ts';

describe('the memory cap', () => {
  it('takes the old generation limit from the command line or NODE_OPTIONS, else from V8', () => {
    expect(oldGenerationLimit(['--max-old-space-size=96'], '')).toBe(96 * 1024 * 1024);
    expect(oldGenerationLimit([], '--trace-warnings --max_old_space_size=64')).toBe(64 * 1024 * 1024);
    expect(oldGenerationLimit([], '')).toBe(getHeapStatistics().heap_size_limit);
  });

  it('starts shedding before a process with a 48 MB old space runs out of memory', () => {
    const script = `
      import { MemoryGuard } from ${JSON.stringify(new URL('../memory-guard.ts', import.meta.url).pathname)};
      const guard = new MemoryGuard({ shedAt: 0.9, resumeAt: 0.8, intervalMs: 1000 });
      const kept = [];
      for (;;) {
        guard.sample();
        if (guard.shedding) { console.log('shedding'); process.exit(0); }
        for (let i = 0; i < 2000; i++) kept.push({ text: 'x'.repeat(100) + i });
      }`;
    const out = execFileSync(
      process.execPath,
      ['--max-old-space-size=48', '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    expect(out.trim()).toBe('shedding');
  });
});
