#!/usr/bin/env -S node --max-semi-space-size=16 --max-valid-polymorphic-map-count=16
// portcullis start | check | demo | explain | test | sessions | --help | --version
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
  portcullis sessions list --user EMAIL|SUB [--config FILE] [--json]
                                     list a user's sessions (Redis session store)
  portcullis sessions revoke (--user EMAIL|SUB | --session ID | --all [--yes])
                     [--config FILE] [--json]
                                     sign a user, one session or everyone out
  portcullis explain --config FILE --url URL [--method M] [--user SUB] [--email E]
                     [--email-verified] [--groups a,b] [--claims JSON] [--amr pwd,mfa]
                     [--acr X] [--auth-time ISO] [--device JSON] [--ip ADDR]
                     [--country CC] [--time ISO]
                                     would this request be allowed, and why? exit 0
                                     allowed, 1 denied, 2 bad input
  portcullis test FILE               run a YAML file of policy cases with expected
                                     outcomes; exit 1 when any case fails
  portcullis --version               print the version
  portcullis --help                  print this help

Signals: SIGHUP reloads the configuration (so does saving the file);
SIGTERM and SIGINT drain in-flight requests and stop.
`;

async function main(argv: string[]): Promise<number> {
  // `sessions` has options of its own, so it is dispatched before the global ones are parsed.
  if (argv[0] === 'sessions') return sessions(argv.slice(1));
  if (argv[0] === 'explain' || argv[0] === 'test') {
    const result =
      argv[0] === 'explain'
        ? (await import('./policy/explain.ts')).explainFromArgv(argv.slice(1))
        : (await import('./policy/test-runner.ts')).runPolicyTestsFromArgv(argv.slice(1));
    (result.exitCode === 2 ? process.stderr : process.stdout).write(result.output);
    return result.exitCode;
  }
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
    // workers > 1: this process becomes the primary of the workers, which run the code below (src/workers.ts).
    const workers = await import('./workers.ts');
    const primaryExitCode = await workers.runPrimaryIfConfigured(file);
    if (primaryExitCode !== undefined) return primaryExitCode;
    portcullis = await startPortcullis({ configFile: file, ...workers.workerStartOptions() });
    await workers.joinCluster(portcullis);
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

async function sessions(args: string[]): Promise<number> {
  const { runSessionsCommand, askOnTerminal } = await import('./admin/cli.ts');
  const result = await runSessionsCommand(args, process.env, { confirm: askOnTerminal });
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  return result.exitCode;
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
