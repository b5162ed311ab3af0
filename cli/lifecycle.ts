// Process lifecycle for long-running commands: wait for SIGINT/SIGTERM, run the shutdown, exit cleanly.

/** Resolves after `shutdown` has run in response to SIGINT or SIGTERM. */
export function onShutdown(shutdown: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.error(JSON.stringify({ event: 'stopping', signal }));
      shutdown().then(resolve, (err) => {
        console.error(JSON.stringify({ event: 'shutdown-failed', message: (err as Error).message }));
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
