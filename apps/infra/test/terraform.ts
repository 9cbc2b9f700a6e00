/**
 * Running the real `terraform` against a synthesized stack, offline: the CLI configuration comes from the repo
 * (`apps/infra/terraform.rc`, the /opt/tf-plugins provider mirror) unless `ALLEYCAT_TF_CLI_CONFIG_FILE` names
 * another; fake credentials and the provider's skip flags exist only here, in an override file next to the
 * synthesized JSON — never in what users deploy.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MIN_TERRAFORM = [1, 5] as const;
export const REPO_CLI_CONFIG = fileURLToPath(new URL('../terraform.rc', import.meta.url));
export const DEFAULT_MIRROR = '/opt/tf-plugins';
const AWS_PROVIDER_PATH = 'registry.terraform.io/hashicorp/aws';

export class TerraformError extends Error {
  constructor(
    message: string,
    readonly stderr = '',
  ) {
    super(stderr ? `${message}\n${stderr}` : message);
    this.name = 'TerraformError';
  }
}

/** The installed terraform's version; throws (never skips) when it is missing or too old. */
export function requireTerraform(): string {
  const result = spawnSync('terraform', ['version', '-json'], { encoding: 'utf8', env: terraformEnv() });
  if (result.error || result.status !== 0) {
    throw new TerraformError(
      `terraform is not installed or not on PATH (${result.error?.message ?? `exit ${result.status}`}). ` +
        `The infra tests need Terraform >= ${MIN_TERRAFORM.join('.')}: https://developer.hashicorp.com/terraform/install`,
    );
  }
  const version = (JSON.parse(result.stdout) as { terraform_version: string }).terraform_version;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < MIN_TERRAFORM[0] || (major === MIN_TERRAFORM[0] && minor < MIN_TERRAFORM[1])) {
    throw new TerraformError(
      `terraform ${version} is too old: the infra tests need >= ${MIN_TERRAFORM.join('.')}`,
    );
  }
  return version;
}

export interface CliConfig {
  file: string;
  /** Why this file: for the test log. */
  source: string;
  /** Removes a configuration written for this run (no-op for the repo's or the user's file). */
  cleanup?: () => void;
}

/**
 * Which CLI configuration terraform gets: the user's (`ALLEYCAT_TF_CLI_CONFIG_FILE`), else the repo's mirror
 * configuration when the mirror holds hashicorp/aws (`TF_PLUGIN_DIR` names another mirror folder), else an empty
 * configuration, so `terraform init` downloads the provider as usual.
 */
export function cliConfig(env: NodeJS.ProcessEnv = process.env, tempRoot: string = tmpdir()): CliConfig {
  const user = env['ALLEYCAT_TF_CLI_CONFIG_FILE'];
  if (user) {
    if (!existsSync(user)) throw new TerraformError(`ALLEYCAT_TF_CLI_CONFIG_FILE=${user} does not exist`);
    return { file: user, source: 'ALLEYCAT_TF_CLI_CONFIG_FILE' };
  }
  const mirror = env['TF_PLUGIN_DIR'] || DEFAULT_MIRROR;
  const hasMirror = existsSync(join(mirror, AWS_PROVIDER_PATH));
  if (hasMirror && mirror === DEFAULT_MIRROR) {
    return { file: REPO_CLI_CONFIG, source: `repo terraform.rc (${mirror})` };
  }
  const dir = mkdtempSync(join(tempRoot, 'alleycat-tfrc-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  if (hasMirror) {
    const file = join(dir, 'terraform.rc');
    writeFileSync(
      file,
      `provider_installation {\n  filesystem_mirror {\n    path    = ${JSON.stringify(mirror)}\n    include = ["${AWS_PROVIDER_PATH}"]\n  }\n  direct {\n    exclude = ["${AWS_PROVIDER_PATH}"]\n  }\n}\n`,
    );
    return { file, source: `TF_PLUGIN_DIR mirror (${mirror})`, cleanup };
  }
  const file = join(dir, 'empty.tfrc');
  writeFileSync(file, '');
  return { file, source: `no provider mirror at ${mirror}: downloading from the registry`, cleanup };
}

/** The environment terraform runs with: fake credentials, no metadata service, no prompts, no telemetry. */
export function terraformEnv(cliConfigFile?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // Real credentials, profiles and Terraform settings of the machine stay out of the test.
    if (!/^(AWS_|TF_)/.test(key)) env[key] = value;
  }
  return {
    ...env,
    ...(cliConfigFile ? { TF_CLI_CONFIG_FILE: cliConfigFile } : {}),
    TF_IN_AUTOMATION: '1',
    TF_INPUT: '0',
    CHECKPOINT_DISABLE: '1',
    AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

/** Provider flags that let `terraform plan` run without AWS: written only into the test's copy of the stack. */
export const OFFLINE_PROVIDER_OVERRIDE = {
  provider: {
    aws: {
      skip_credentials_validation: true,
      skip_requesting_account_id: true,
      skip_metadata_api_check: true,
      skip_region_validation: true,
    },
  },
};

export function writeOfflineOverride(stackDir: string): void {
  writeFileSync(
    join(stackDir, 'zz_offline_test_override.tf.json'),
    JSON.stringify(OFFLINE_PROVIDER_OVERRIDE),
  );
}

export interface Run {
  stdout: string;
  seconds: number;
}

export function terraform(stackDir: string, cli: CliConfig, args: string[]): Run {
  const started = performance.now();
  const result = spawnSync('terraform', [...args, '-no-color'], {
    cwd: stackDir,
    encoding: 'utf8',
    env: terraformEnv(cli.file),
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = (performance.now() - started) / 1000;
  if (result.error || result.status !== 0) {
    throw new TerraformError(
      `terraform ${args[0]} failed in ${stackDir} (CLI config: ${cli.source})`,
      `${result.error?.message ?? ''}${result.stdout}${result.stderr}`,
    );
  }
  return { stdout: result.stdout, seconds };
}

/** `init` with a local state file in the test folder, so nothing is written next to the app. */
export function init(stackDir: string, cli: CliConfig): Run {
  return terraform(stackDir, cli, [
    'init',
    '-input=false',
    '-reconfigure',
    `-backend-config=path=${join(stackDir, 'test.tfstate')}`,
  ]);
}
