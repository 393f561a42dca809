/** swarm: the manager and the agent of the Swarm loop, re-exported from src/index.ts. */
export { type Agent, type AgentOptions, type AgentTask, startAgent } from './agent.js';
export {
  type Execution,
  type Executor,
  type ExecutorName,
  type Exit,
  noneExecutor,
  type ProcessExecutorOptions,
  processExecutor,
  taskEnvironment,
} from './executors.js';
export { DEFAULT_HEARTBEAT_PERIOD_MS, type ManagerOptions, runManager } from './manager.js';
export { explain as explainUnschedulable } from './scheduler.js';
