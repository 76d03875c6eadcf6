// Load a config file with its compiled policies, for `portcullis explain` and `portcullis test`.
import { loadConfigFile, loadConfigText, type Env } from '../config/load.ts';
import { compileConfig, type CompiledConfig } from '../config/compile.ts';
import type { CompiledPolicies } from './compile.ts';

export interface ConfigWithPolicies {
  readonly config: CompiledConfig;
  readonly policies: CompiledPolicies;
}

/** Throws ConfigError with every problem, each with file, line and key path. */
export function loadConfigWithPolicies(file: string, env: Env = process.env): ConfigWithPolicies {
  const config = compileConfig(loadConfigFile(file, env));
  return { config, policies: config.policies };
}

export function loadConfigTextWithPolicies(text: string, file: string, env: Env = process.env): ConfigWithPolicies {
  const config = compileConfig(loadConfigText(text, file, env));
  return { config, policies: config.policies };
}
