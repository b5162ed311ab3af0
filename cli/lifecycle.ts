// Process lifecycle for long-running commands: wait for SIGINT/SIGTERM, run the shutdown, exit cleanly. A
// process that `roam up` started (it has an IPC channel to its parent) also stops when that parent is gone,
// however it went: a `kill -9`, a closed terminal or the OOM killer send no signal to the children, but the
// channel closes.

/** Resolves after `shutdown` has run in response to SIGINT or SIGTERM, or to the parent going away. */
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
    if (process.channel) {
      // The channel is only watched: it must not keep the process alive on its own.
      process.channel.unref();
      process.once('disconnect', () => stop('parent exited'));
    }
  });
}
