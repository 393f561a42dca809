import { runConformance } from '../../src/conformance/index.js';
import { createStore } from '../../src/index.js';

const name = `memory-conformance-${process.pid}`;
runConformance({ name: 'memory', open: () => createStore(`memory://${name}`) });
