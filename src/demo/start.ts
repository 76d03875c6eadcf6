// `portcullis demo` and `npm start` with no configuration: the demo app and
// Portcullis in front of it, configured by config/demo.yaml.
import { fileURLToPath } from 'node:url';
import { startDemoApp } from './app.ts';
import { startPortcullis, type Portcullis } from '../server.ts';

export const demoConfigFile = fileURLToPath(new URL('../../config/demo.yaml', import.meta.url));

export interface Demo {
  readonly portcullis: Portcullis;
  stop(): Promise<void>;
}

export async function startDemo(env: NodeJS.ProcessEnv = process.env): Promise<Demo> {
  const appPort = Number(env.DEMO_APP_PORT ?? 8091);
  const app = await startDemoApp(appPort);
  const portcullis = await startPortcullis({ configFile: demoConfigFile, env: { ...env, DEMO_APP_PORT: String(appPort) } });
  const port = portcullis.addresses.main.port;
  process.stdout.write(`
  Portcullis demo is running.

    Open      http://localhost:${port}/         (the demo app, through Portcullis)
    Ops       http://127.0.0.1:${portcullis.addresses.ops.port}/metrics  /healthz  /readyz
    Config    ${demoConfigFile}

  Stop with Ctrl+C.

`);
  return {
    portcullis,
    stop: () => app.close(),
  };
}
