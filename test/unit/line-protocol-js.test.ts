// The line-protocol tests (line-protocol.test.ts) on the JavaScript path: RAAS_NATIVE=0 is set
// before that file (and the protocol) is loaded, in this test process only.
// Runs in: the test runner.

process.env.RAAS_NATIVE = '0';
await import('./line-protocol.test.js');
