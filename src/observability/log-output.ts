// Where a process's log lines go: a file descriptor (stdout), written asynchronously, one write at
// a time, in the order the lines came. Access-log lines gather as UTF-8 in a 64 KiB buffer and go
// when it is full or when the caller flushes (every 100 ms, and before any other line); other
// lines go at once. Lines are bytes from the start: a string kept waiting is copied by every
// young-generation collection it outlives, and a stream that keeps strings (pino's sonic-boom)
// measures and encodes them again on each write, a few microseconds a request for the access log.
import { write, writeSync } from 'node:fs';

/** Access-log lines gather, as bytes, up to this many. */
const BATCH_BYTES = 64 * 1024;

/** A write refused for now (a non-blocking descriptor that is full) is tried again after this long. */
const RETRY_MS = 10;

export interface LogOutput {
  /** A line to write now, after whatever gathered before it (pino's lines). */
  write(line: string): void;
  /** An access-log line, to write with the next batch. */
  gather(line: string): void;
  /** Sends what gathered; `callback` runs once every line so far is written (or could not be). */
  flush(callback?: (error?: Error) => void): void;
  /** Writes everything not written yet before returning (at exit). */
  flushSync(): void;
}

export function createLogOutput(fd: number): LogOutput {
  let batch: Buffer | null = null; // made with the first gathered line
  let used = 0;
  /** Bytes waiting for the write under way to finish, in order. */
  const queue: Buffer[] = [];
  let writing: Buffer | null = null;
  let offset = 0;
  /** Set once the descriptor's reader is gone (EPIPE) or writing failed: nothing more is written. */
  let broken = false;
  let waiters: ((error?: Error) => void)[] = [];

  const endBatch = (): void => {
    if (used === 0 || batch === null) return;
    queue.push(batch.subarray(0, used));
    batch = null; // the next line starts a new one
    used = 0;
  };

  const settleWaiters = (error?: Error): void => {
    const done = waiters;
    waiters = [];
    for (const waiter of done) waiter(error);
  };

  const next = (): void => {
    if (writing !== null) return;
    if (broken) {
      queue.length = 0;
      settleWaiters();
      return;
    }
    const buffer = queue.length === 1 ? queue.pop()! : queue.length > 1 ? Buffer.concat(queue.splice(0)) : null;
    if (buffer === null) {
      settleWaiters();
      return;
    }
    writing = buffer;
    offset = 0;
    writeSome();
  };

  const writeSome = (): void => {
    const buffer = writing!;
    write(fd, buffer, offset, buffer.length - offset, null, (error, written) => {
      if (error !== null) {
        if (error.code === 'EAGAIN') {
          setTimeout(writeSome, RETRY_MS).unref();
          return;
        }
        // EPIPE (the reader is gone) or worse: log lines cannot reach anyone; the process serves on.
        broken = true;
        writing = null;
        settleWaiters(error);
        next();
        return;
      }
      offset += written;
      if (offset < buffer.length) {
        writeSome();
        return;
      }
      writing = null;
      next();
    });
  };

  return {
    write(line) {
      endBatch();
      queue.push(Buffer.from(line, 'utf8'));
      next();
    },
    gather(line) {
      // A UTF-16 unit takes at most 3 bytes of UTF-8.
      if (used + 3 * line.length > BATCH_BYTES) {
        endBatch();
        next();
      }
      if (3 * line.length > BATCH_BYTES) {
        queue.push(Buffer.from(line, 'utf8'));
        return;
      }
      batch ??= Buffer.allocUnsafe(BATCH_BYTES);
      used += batch.write(line, used);
    },
    flush(callback) {
      endBatch();
      if (callback !== undefined) waiters.push(callback);
      next();
    },
    flushSync() {
      endBatch();
      if (broken) return;
      // The write under way, if any, is the kernel's now; what follows it goes at once, in order.
      // A full non-blocking descriptor gets a second's patience, no more.
      let patience = 100;
      for (const buffer of queue.splice(0)) {
        for (let done = 0; done < buffer.length; ) {
          try {
            done += writeSync(fd, buffer, done, buffer.length - done);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || --patience === 0) return;
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RETRY_MS);
          }
        }
      }
    },
  };
}
