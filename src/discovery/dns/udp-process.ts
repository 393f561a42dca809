/**
 * A process answering UDP DNS queries on a socket its parent shares with it (udp-processes.ts):
 * it gets the socket and its settings once, then the services that changed, builds its own record
 * table and answers exactly as the parent does (the same Responder and UDP loop). It exits when
 * the parent disconnects — asked to or gone.
 */
import type dgram from 'node:dgram';
import { Forwarder } from './forwarder.js';
import { type DnsService, RecordBuilder } from './records.js';
import { Responder } from './responder.js';
import { answerUdp } from './sockets.js';
import type { FromUdpProcess, ToUdpProcess } from './udp-processes.js';

const tell = (message: FromUdpProcess) => {
  if (process.connected) process.send?.(message);
};
const report = (err: unknown) => tell({ kind: 'error', message: (err as Error)?.message ?? String(err) });

let responder: Responder | null = null;
let forwarder: Forwarder | null = null;
let builder: RecordBuilder | null = null;
let socket: dgram.Socket | null = null;
const services = new Map<string, DnsService>();

process.on('message', (message: ToUdpProcess, handle: unknown) => {
  try {
    if (message.kind === 'config') {
      const { config } = message;
      forwarder = config.upstreams.length > 0 ? new Forwarder(config.upstreams) : null;
      responder = new Responder({ ttlSeconds: config.ttlSeconds, forwarder });
      builder = new RecordBuilder({ networks: config.networks });
    } else if (message.kind === 'records' && responder && builder) {
      for (const id of message.removed) services.delete(id);
      for (const service of message.changed) services.set(service.id, service);
      responder.setTable(builder.build([...services.values()]));
    } else if (message.kind === 'socket' && responder && socket === null) {
      // The socket reads from this tick on; the listener is attached in the same tick, so no
      // query is read and dropped, and the table was built from the records sent before it.
      socket = handle as dgram.Socket;
      answerUdp(socket, responder, report);
      tell({ kind: 'ready' });
    }
  } catch (err) {
    report(err);
  }
});

process.on('disconnect', () => {
  forwarder?.close();
  if (socket) socket.close(() => process.exit(0));
  else process.exit(0);
});
