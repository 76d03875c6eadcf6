#!/usr/bin/env node
// portcullis start | check | demo | --help | --version
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { loadConfigFile } from './config/load.ts';
import { compileConfig } from './config/compile.ts';
import { ConfigError, formatConfigProblem } from './errors.ts';
import type { Portcullis } from './server.ts';
import { version } from './version.ts';

const HELP = `Portcullis ${version}: an identity-aware reverse proxy

Usage:
  portcullis start [--config FILE]   run the proxy (FILE or $PORTCULLIS_CONFIG;
                                     with neither, run the built-in demo)
  portcullis demo                    run the built-in demo: demo app and Portcullis
                                     in front of it, from config/demo.yaml
  portcullis check FILE              validate a configuration file; exit 0 when valid,
                                     1 with every problem listed
  portcullis --version               print the version
  portcullis --help                  print this help

Signals: SIGHUP reloads the configuration (so does saving the file);
SIGTERM and SIGINT drain in-flight requests and stop.
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.version) {
    process.stdout.write(`portcullis ${version}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (values.help || command === 'help' || command === undefined) {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'check':
      return check(rest[0] ?? values.config);
    case 'start': {
      const file = values.config ?? process.env.PORTCULLIS_CONFIG;
      if (!file) return runDemo();
      return run(resolve(file));
    }
    case 'demo':
      return runDemo();
    default:
      process.stderr.write(`portcullis: unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}

function check(file: string | undefined): number {
  if (!file) {
    process.stderr.write('portcullis check: give the configuration file to check, for example: portcullis check /etc/portcullis/portcullis.yaml\n');
    return 2;
  }
  try {
    const config = compileConfig(loadConfigFile(file));
    process.stdout.write(`${file}: valid (${config.routes.length} route${config.routes.length === 1 ? '' : 's'}, sha256 ${config.checksum.slice(0, 12)})\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}\n`);
    for (const p of err.problems) process.stderr.write(`  ${formatConfigProblem(p)}\n`);
    return 1;
  }
}

async function run(file: string): Promise<number> {
  let portcullis: Portcullis;
  try {
    // Loaded only here, so `check` and `--help` start fast.
    const { startPortcullis } = await import('./server.ts');
    portcullis = await startPortcullis({ configFile: file });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`portcullis: cannot start: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} in the configuration\n`);
      for (const p of err.problems) process.stderr.write(`  ${formatConfigProblem(p)}\n`);
      return 1;
    }
    process.stderr.write(`portcullis: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  return serveUntilSignal(portcullis, async () => {});
}

async function runDemo(): Promise<number> {
  const { startDemo } = await import('./demo/start.ts');
  const demo = await startDemo();
  return serveUntilSignal(demo.portcullis, demo.stop);
}

function serveUntilSignal(portcullis: Portcullis, afterShutdown: () => Promise<void>): Promise<number> {
  const { logger } = portcullis;
  // Keep serving through a bug rather than drop every user's connection; the log says what happened.
  process.on('unhandledRejection', (reason) => logger.error({ type: 'bug', error: String((reason as Error)?.stack ?? reason) }, 'unhandled promise rejection'));
  process.on('uncaughtException', (err) => logger.error({ type: 'bug', error: String(err.stack ?? err) }, 'uncaught exception'));
  process.on('SIGHUP', () => void portcullis.reload());
  return new Promise((resolveExit) => {
    const stop = (signal: string) => {
      logger.info({ type: 'signal', signal }, `received ${signal}`);
      void portcullis
        .shutdown()
        .then(afterShutdown)
        .then(() => resolveExit(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    if (code !== 0 || process.argv[2] === 'check') return;
    // After a clean shutdown nothing should keep the event loop alive; do not wait if something does.
    setTimeout(() => process.exit(code), 500).unref();
  },
  (err: Error) => {
    process.stderr.write(`portcullis: ${err.message}\n`);
    process.exitCode = 2;
  },
);
