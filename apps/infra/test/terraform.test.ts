/**
 * The real terraform on the synthesized stack: init from the offline provider mirror, validate, and plan with
 * fake credentials. Terraform >= 1.5 is a prerequisite of these tests: when it is missing they fail, loudly.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allResources, type Synthesized, synthToTemp, testConfig } from './helpers.js';
import {
  type CliConfig,
  cliConfig,
  DEFAULT_MIRROR,
  init,
  REPO_CLI_CONFIG,
  requireTerraform,
  terraform,
  writeOfflineOverride,
} from './terraform.js';

/** The sweep's three resources, as the plan names them. */
const SWEEP_ADDRS = [
  'aws_cloudwatch_event_rule.sweep_rule',
  'aws_cloudwatch_event_target.sweep_target',
  'aws_lambda_permission.sweep_permission',
];

let cli: CliConfig;
const synthesized: Synthesized[] = [];
beforeAll(() => {
  cli = cliConfig();
});
afterAll(() => {
  for (const s of synthesized) s.cleanup();
  cli?.cleanup?.();
});

/** Lines of `terraform plan -json` (machine-readable UI) that matter here. */
type PlanMessage =
  | { type: 'planned_change'; change: { resource: { addr: string; resource_type: string }; action: string } }
  | { type: 'change_summary'; changes: { add: number; change: number; remove: number } }
  | { type: string };

/** synth → init → validate → plan; returns the planned changes and how long each step took. */
function synthValidatePlan(env: Record<string, string>) {
  const t0 = performance.now();
  const s = synthToTemp(testConfig(env));
  synthesized.push(s);
  const synthSeconds = (performance.now() - t0) / 1000;
  writeOfflineOverride(s.stackDir);
  const initRun = init(s.stackDir, cli);
  const validate = terraform(s.stackDir, cli, ['validate']);
  const plan = terraform(s.stackDir, cli, ['plan', '-input=false', '-lock=false', '-json']);
  const messages = plan.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as PlanMessage);
  const changes = messages.flatMap((m) => (m.type === 'planned_change' && 'change' in m ? [m.change] : []));
  const summary = messages.find((m) => m.type === 'change_summary');
  if (!summary || !('changes' in summary)) throw new Error(`no change summary in the plan:\n${plan.stdout}`);
  console.info(
    `[infra] ${JSON.stringify(env)}: synth ${synthSeconds.toFixed(1)} s, init ${initRun.seconds.toFixed(1)} s, ` +
      `validate ${validate.seconds.toFixed(1)} s, plan ${plan.seconds.toFixed(1)} s (CLI config: ${cli.source})`,
  );
  return { s, validate, changes, summary: summary.changes };
}

describe('terraform', () => {
  it('is installed, >= 1.5', () => {
    expect(requireTerraform()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('validates and plans the default stack: 44 resources to create (enhanced fan-out consumer, sweep and alarms included)', () => {
    requireTerraform();
    const { s, validate, changes, summary } = synthValidatePlan({});
    expect(validate.stdout).toContain('Success! The configuration is valid.');
    expect(summary).toEqual({ add: 44, change: 0, import: 0, remove: 0, operation: 'plan' });
    expect(changes.every((c) => c.action === 'create')).toBe(true);
    expect(changes).toHaveLength(44);
    expect(changes).toHaveLength(allResources(s.json).length);
    const addrs = changes.map((c) => c.resource.addr);
    expect(addrs).toContain('aws_kinesis_stream.stream');
    expect(addrs).toContain('aws_kinesis_stream_consumer.ingest_consumer');
    for (const addr of SWEEP_ADDRS) expect(addrs).toContain(addr);
    expect(addrs).toContain('aws_sns_topic.alarm_topic');
  });

  it('validates and plans with enhanced fan-out, the sweep, the alarms and the IoT log group off: 32 resources', () => {
    requireTerraform();
    const { validate, changes, summary } = synthValidatePlan({
      ALLEYCAT_ESM_ENHANCED_FAN_OUT: 'false',
      ALLEYCAT_SWEEP_SCHEDULE: 'off',
      ALLEYCAT_ALARMS: 'off',
      ALLEYCAT_MANAGE_IOT_LOG_GROUP: 'false',
    });
    expect(validate.stdout).toContain('Success! The configuration is valid.');
    expect(summary).toMatchObject({ add: 32, change: 0, remove: 0 });
    const addrs = changes.map((c) => c.resource.addr);
    expect(addrs).not.toContain('aws_kinesis_stream_consumer.ingest_consumer');
    for (const addr of SWEEP_ADDRS) expect(addrs).not.toContain(addr);
    expect(addrs.filter((a) => a.startsWith('aws_cloudwatch_metric_alarm.'))).toEqual([]);
  });

  it('validates and plans with archiving on, 40,000 riders, a cron sweep and an alarm e-mail: 48 resources', () => {
    requireTerraform();
    const { s, changes, summary } = synthValidatePlan({
      ALLEYCAT_ARCHIVE: 'true',
      ALLEYCAT_RIDERS: '40000',
      ALLEYCAT_SWEEP_SCHEDULE: 'cron(0/5 * * * ? *)',
      ALLEYCAT_ALARM_EMAIL: 'ops@example.com',
    });
    expect(summary).toMatchObject({ add: 48, change: 0, remove: 0 });
    expect(s.json['resource'].aws_cloudwatch_event_rule.sweep_rule.schedule_expression).toBe(
      'cron(0/5 * * * ? *)',
    );
    expect(s.json['resource'].aws_kinesis_stream.stream.shard_count).toBe(50);
    expect(changes).toHaveLength(allResources(s.json).length);
    expect(changes.map((c) => c.resource.addr)).toContain(
      'aws_kinesis_firehose_delivery_stream.archive_delivery_stream',
    );
  });

  it('validates the stack that looks account id and IoT endpoint up (data sources)', () => {
    requireTerraform();
    const s = synthToTemp(testConfig({ ALLEYCAT_ACCOUNT_ID: '', ALLEYCAT_IOT_DATA_ENDPOINT: '' }));
    synthesized.push(s);
    expect(Object.keys(s.json['data'])).toEqual(['aws_caller_identity', 'aws_iot_endpoint']);
    init(s.stackDir, cli);
    expect(terraform(s.stackDir, cli, ['validate']).stdout).toContain('Success!');
  });
});

describe('terraform set-up', () => {
  it('fails with a clear message when terraform is not on PATH', () => {
    const path = process.env['PATH'];
    const empty = mkdtempSync(join(tmpdir(), 'alleycat-no-terraform-'));
    process.env['PATH'] = empty;
    try {
      expect(() => requireTerraform()).toThrow(
        /terraform is not installed or not on PATH.*Terraform >= 1\.5/s,
      );
    } finally {
      process.env['PATH'] = path;
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('uses ALLEYCAT_TF_CLI_CONFIG_FILE, else the repo mirror config, else downloads as usual', () => {
    const dir = mkdtempSync(join(tmpdir(), 'alleycat-tfrc-test-'));
    try {
      const own = join(dir, 'mine.tfrc');
      writeFileSync(own, '');
      expect(cliConfig({ ALLEYCAT_TF_CLI_CONFIG_FILE: own })).toEqual({
        file: own,
        source: 'ALLEYCAT_TF_CLI_CONFIG_FILE',
      });
      expect(() => cliConfig({ ALLEYCAT_TF_CLI_CONFIG_FILE: join(dir, 'missing') })).toThrow(
        /does not exist/,
      );

      const mirror = join(dir, 'mirror');
      mkdirSync(join(mirror, 'registry.terraform.io/hashicorp/aws'), { recursive: true });
      const fromMirror = cliConfig({ TF_PLUGIN_DIR: mirror }, dir);
      expect(readFileSync(fromMirror.file, 'utf8')).toContain(`path    = ${JSON.stringify(mirror)}`);

      const none = cliConfig({ TF_PLUGIN_DIR: join(dir, 'nowhere') }, dir);
      expect(none.source).toMatch(/downloading from the registry/);
      expect(readFileSync(none.file, 'utf8')).toBe('');

      if (existsSync(join(DEFAULT_MIRROR, 'registry.terraform.io/hashicorp/aws'))) {
        expect(cliConfig({}).file).toBe(REPO_CLI_CONFIG);
        expect(readFileSync(REPO_CLI_CONFIG, 'utf8')).toContain(`path    = "${DEFAULT_MIRROR}"`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the test-only provider flags out of the synthesized stack', () => {
    const s = synthToTemp(testConfig());
    synthesized.push(s);
    const before = readFileSync(join(s.stackDir, 'cdk.tf.json'), 'utf8');
    writeOfflineOverride(s.stackDir);
    expect(readFileSync(join(s.stackDir, 'cdk.tf.json'), 'utf8')).toBe(before);
    expect(before).not.toContain('skip_credentials_validation');
  });
});
