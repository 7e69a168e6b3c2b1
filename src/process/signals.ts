import { killAllChildrenNow } from './child.js';

/**
 * Stops the process cleanly on SIGTERM/SIGINT (`stop` runs once; a second signal kills every
 * agent process group at once and exits 130), ignores SIGHUP when `hangup` is "ignore" (a daemon
 * outlives its terminal) or treats it as a stop, and kills every agent process group if the
 * process exits any other way.
 */
export function onStopSignals(
  stop: (signal: NodeJS.Signals) => unknown,
  opts: { hangup?: 'stop' | 'ignore' } = {},
): void {
  let count = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    count++;
    if (count > 1) {
      killAllChildrenNow();
      process.exit(130);
    }
    void stop(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', opts.hangup === 'stop' ? onSignal : () => undefined);
  process.on('exit', () => killAllChildrenNow());
}
