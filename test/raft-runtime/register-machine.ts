import type { ApplyContext, ReplicatedStateMachine } from '../../src/raft/replica.js';

/** A tiny replicated map for runtime tests: `put`/`del` commands (JSON), results are the index. */
export type RegisterCommand = { op: 'put'; key: string; value: string } | { op: 'del'; key: string };

export const command = (c: RegisterCommand) => new TextEncoder().encode(JSON.stringify(c));

export class RegisterMachine implements ReplicatedStateMachine {
  values = new Map<string, string>();
  /** Every applied command in order (index:key=value), to compare replicas. */
  history: string[] = [];
  restores = 0;

  apply(data: Uint8Array, ctx: ApplyContext): unknown {
    const cmd = JSON.parse(new TextDecoder().decode(data)) as RegisterCommand;
    if (cmd.op === 'put') this.values.set(cmd.key, cmd.value);
    else this.values.delete(cmd.key);
    this.history.push(`${ctx.index}:${cmd.key}=${cmd.op === 'put' ? cmd.value : '∅'}`);
    return { index: ctx.index };
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ values: [...this.values], history: this.history }));
  }

  restore(image: Uint8Array): void {
    const parsed = JSON.parse(new TextDecoder().decode(image)) as {
      values: [string, string][];
      history: string[];
    };
    this.values = new Map(parsed.values);
    this.history = parsed.history;
    this.restores++;
  }
}
