/** discovery: the public entry, re-exported from src/index.ts. */
export {};
