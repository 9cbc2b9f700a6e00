import { STATE_TABLE } from '@alleycat/schema';
import { DynamodbTable } from '@cdktf/provider-aws/lib/dynamodb-table/index.js';
import { Construct } from 'constructs';

export interface StateTableProps {
  name: string;
  protectData: boolean;
}

/**
 * The race-state table (`@alleycat/schema` STATE_TABLE): generic string keys so the item design can evolve
 * without replacing the table; on demand (races come in bursts), point-in-time recovery, KMS encryption
 * (AWS-managed key) and TTL expiry of finished races.
 */
export class StateTable extends Construct {
  readonly table: DynamodbTable;

  constructor(scope: Construct, id: string, props: StateTableProps) {
    super(scope, id);
    this.table = new DynamodbTable(this, 'table', {
      name: props.name,
      billingMode: 'PAY_PER_REQUEST',
      hashKey: STATE_TABLE.partitionKey,
      rangeKey: STATE_TABLE.sortKey,
      attribute: [
        { name: STATE_TABLE.partitionKey, type: 'S' },
        { name: STATE_TABLE.sortKey, type: 'S' },
      ],
      ttl: { attributeName: STATE_TABLE.ttlAttribute, enabled: true },
      pointInTimeRecovery: { enabled: true },
      serverSideEncryption: { enabled: true },
      deletionProtectionEnabled: props.protectData,
    });
    this.table.overrideLogicalId('state_table');
  }
}
