import { type CapacityPlan, planCapacity } from '@alleycat/schema';
import { KinesisStream } from '@cdktf/provider-aws/lib/kinesis-stream/index.js';
import { Construct } from 'constructs';
import type { StreamMode } from '../types.js';

export interface TelemetryStreamProps {
  name: string;
  riders: number;
  mode: StreamMode;
  retentionHours: number;
  kmsKeyArn: string;
}

/** Shards of a provisioned stream for `riders`: `planCapacity` with its defaults (also checked at synth). */
export function streamShards(riders: number): number {
  return planCapacity({ riders }).shards;
}

/**
 * The Kinesis stream every race message passes through. Provisioned streams get the shard count
 * `planCapacity` gives for the riders (with its default headroom: a throttled IoT rule action is not retried
 * into the stream); on-demand streams scale themselves.
 */
export class TelemetryStream extends Construct {
  readonly stream: KinesisStream;
  /** The capacity plan behind the shard count (also for on-demand, for cost notes). */
  readonly capacity: CapacityPlan;

  constructor(scope: Construct, id: string, props: TelemetryStreamProps) {
    super(scope, id);
    this.capacity = planCapacity({ riders: props.riders });
    const provisioned = props.mode === 'provisioned';
    this.stream = new KinesisStream(this, 'stream', {
      name: props.name,
      ...(provisioned ? { shardCount: streamShards(props.riders) } : {}),
      streamModeDetails: { streamMode: provisioned ? 'PROVISIONED' : 'ON_DEMAND' },
      retentionPeriod: props.retentionHours,
      encryptionType: 'KMS',
      kmsKeyId: props.kmsKeyArn,
    });
    this.stream.overrideLogicalId('stream');
  }
}
