// How Portcullis's Node process is started, in every place that starts it: package.json's
// start script, the Dockerfile's ENTRYPOINT, the bin shebang of src/cli.ts and the benchmark.
// test/unit/runtime-flags.test.ts keeps them in step. Workers (node:cluster) inherit them.

/**
 * V8's young generation held to 16 MiB per semi-space; on a machine with a lot of memory V8
 * lets it grow to several times that. A proxy's per-request garbage dies young either way,
 * so a smaller young generation is collected as cheaply and stays in the CPU's caches:
 * measured with npm run bench, the full-policy row used less CPU per request with it, and a
 * process holding 100,000 sessions ~110 MiB less RSS after a regular GC (npm run bench:sessions).
 *
 * V8's inline caches keep up to 16 object shapes per property access instead of 4. Node's
 * stream code is shared by three kinds of socket here (the server's, undici's and ioredis's),
 * each with a shape of its own, and more as sockets gain properties; past 4 shapes an access
 * falls back to a generic lookup, and does for every request. Measured with
 * npm run bench:instructions: 2.0% fewer instructions per request on the public route, 1.6%
 * on the protected route with the session in memory, 3.1% on the full policy with Redis
 * (docs/performance.md).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16', '--max-valid-polymorphic-map-count=16'];
