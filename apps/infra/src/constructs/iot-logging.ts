import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group/index.js';
import { IotLoggingOptions } from '@cdktf/provider-aws/lib/iot-logging-options/index.js';
import { Construct } from 'constructs';
import { IOT_LOG_GROUP } from '../constants.js';
import type { Arns } from '../naming.js';
import { allow, policyDocument } from '../policy.js';
import type { IotLogLevel } from '../types.js';
import { ServiceRole } from './service-role.js';

export interface IotLoggingProps {
  level: IotLogLevel;
  roleName: string;
  retentionDays: number;
  /** Create the log group (false: it exists already, or IoT creates it on its first log). */
  manageLogGroup: boolean;
  arns: Arns;
}

/**
 * IoT Core logging (account-wide in the region) into `AWSIotLogsV2`, so a failed rule delivery can be
 * diagnosed. By default the stack creates the log group to bound its retention; being the account's, it is
 * left in place (with its logs) when the stack is destroyed. Where it exists already, the stack leaves it
 * alone (`manageLogGroup` false) or it is imported (README).
 */
export class IotLogging extends Construct {
  readonly options: IotLoggingOptions;
  readonly logGroup: CloudwatchLogGroup | undefined;
  readonly role: ServiceRole;

  constructor(scope: Construct, id: string, props: IotLoggingProps) {
    super(scope, id);
    const { arns } = props;
    this.logGroup = props.manageLogGroup
      ? new CloudwatchLogGroup(this, 'log-group', {
          name: IOT_LOG_GROUP,
          retentionInDays: props.retentionDays,
          skipDestroy: true,
        })
      : undefined;
    this.role = new ServiceRole(this, 'role', {
      name: props.roleName,
      description: `IoT Core logging into ${IOT_LOG_GROUP}`,
      service: 'iot.amazonaws.com',
      trustCondition: { StringEquals: { 'aws:SourceAccount': arns.account } },
      policy: policyDocument(
        allow('CreateLogGroup', 'logs:CreateLogGroup', arns.logGroup(IOT_LOG_GROUP)),
        allow(
          'WriteLogs',
          ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
          `${arns.logGroup(IOT_LOG_GROUP)}:*`,
        ),
      ),
    });
    const disabled = props.level === 'DISABLED';
    this.options = new IotLoggingOptions(this, 'options', {
      defaultLogLevel: disabled ? 'ERROR' : props.level,
      disableAllLogs: disabled,
      roleArn: this.role.arn,
      dependsOn: this.logGroup === undefined ? [this.role.policy] : [this.role.policy, this.logGroup],
    });
  }
}
