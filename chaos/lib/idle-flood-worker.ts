// A worker process of a flood of idle HTTP/2 connections (chaos/lib/idle-flood.ts): its own
// descriptors, so that the flood can outgrow the harness's open-file limit. Spoken to over the
// fork IPC channel: { type: 'open', options } → opens, answers { type: 'opened' } and from then
// on { type: 'stats', stats } on request ({ type: 'stats' }); { type: 'withdraw' } closes every
// connection and exits.
import { type FloodOptions, IdleFlood } from './idle-flood.js';

type Request = { type: 'open'; options: FloodOptions } | { type: 'stats' } | { type: 'withdraw' };

const flood = new IdleFlood();
const send = (message: unknown): void => {
  process.send?.(message);
};

process.on('message', (message: Request) => {
  if (message.type === 'open') {
    void flood.open(message.options).then(() => {
      send({ type: 'stats', stats: flood.stats });
      send({ type: 'opened' });
    });
  } else if (message.type === 'stats') {
    send({ type: 'stats', stats: flood.stats });
  } else {
    flood.withdraw();
    process.exit(0);
  }
});
// The harness went away: do not outlive it.
process.on('disconnect', () => {
  flood.withdraw();
  process.exit(0);
});
