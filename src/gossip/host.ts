import type { CoreEvent, GossipCore } from './core/index.js';

/** What a gossip core needs from the world: a clock, a packet socket, streams and one timer. */
export interface GossipEnvironment {
  now(): number;
  sendPacket(to: string, bytes: Uint8Array): void;
  /** Opens a stream, sends `bytes`, and later calls `host.streamAnswer(id, …)` exactly once. */
  openStream(id: number, to: string, bytes: Uint8Array): void;
  /** Call `host.tick()` at `atMs` (Infinity: no timer needed); replaces the previous request. */
  wakeAt(atMs: number): void;
  onEvent(event: CoreEvent): void;
}

/**
 * The one driver of a gossip core, shared by the socket runtime and the simulator (so the
 * simulator proves the loop production runs): every input goes to the core with the time,
 * then its output is handed to the environment and the timer re-armed.
 */
export class GossipHost {
  private flushing = false;

  constructor(
    readonly core: GossipCore,
    private readonly env: GossipEnvironment,
  ) {
    this.flush();
  }

  /** Runs `fn` on the core at the current time, then delivers what it produced. */
  run<T>(fn: (core: GossipCore, now: number) => T): T {
    try {
      return fn(this.core, this.env.now());
    } finally {
      this.flush();
    }
  }

  tick(): void {
    this.run((core, now) => core.tick(now));
  }

  packet(from: string, bytes: Uint8Array): void {
    this.run((core, now) => core.handlePacket(now, from, bytes));
  }

  stream(from: string, bytes: Uint8Array): Uint8Array | null {
    return this.run((core, now) => core.handleStream(now, from, bytes));
  }

  streamAnswer(id: number, bytes: Uint8Array | null, error: string | null = null): void {
    this.run((core, now) => core.streamAnswer(now, id, bytes, error));
  }

  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (;;) {
        const out = this.core.takeOutput();
        if (out.packets.length === 0 && out.streams.length === 0 && out.events.length === 0) break;
        for (const p of out.packets) this.env.sendPacket(p.to, p.bytes);
        for (const s of out.streams) this.env.openStream(s.id, s.to, s.bytes);
        for (const e of out.events) this.env.onEvent(e);
      }
    } finally {
      this.flushing = false;
    }
    this.env.wakeAt(this.core.nextDeadline());
  }
}
