import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';

const KEY_PATTERN = /^[0-9a-f]{32}$/;

/**
 * The secret part of the owner lock's name for `home`, kept in `$BATON_HOME/owner.lock` (0600, in
 * the 0700 home): another local user cannot read it, so cannot take the lock first (abstract
 * sockets have no permissions, and a name derived from the path alone could be squatted).
 * Created atomically (a hard link of a complete file), so two processes starting at once agree.
 */
export function ownerLockKey(home: string): string {
  const path = join(home, 'owner.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const key = readFileSync(path, 'utf8').trim();
      if (KEY_PATTERN.test(key)) return key;
      unlinkSync(path); // torn or foreign content: replace it
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(tmp, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
  }
  throw new Error(`cannot create ${path}`);
}

/**
 * Takes the owner lock of `home`: a Linux abstract socket named after {@link ownerLockKey}, which
 * the kernel releases when the owner dies however it dies (kill -9 included, and a zombie holds
 * no sockets), so a dead owner never blocks the next one. Resolves with the lock (close it to
 * release) or undefined when another process holds it. Off Linux there are no abstract sockets:
 * the daemon.sock file is the only guard.
 */
export function takeOwnerLock(home: string): Promise<Server | undefined> {
  if (process.platform !== 'linux') return Promise.resolve(createServer());
  const name = `\0baton-owner-${ownerLockKey(home)}`;
  return new Promise((resolve) => {
    const lock = createServer((s) => s.destroy());
    lock.once('error', () => resolve(undefined));
    lock.listen(name, () => {
      lock.unref();
      resolve(lock);
    });
  });
}
