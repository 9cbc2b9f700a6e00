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
  arns: Arns;
}

/**
 * IoT Core logging (account-wide in the region) into `AWSIotLogsV2`, so a failed rule delivery can be
 * diagnosed. The stack owns the log group to bound its retention.
 */
export class IotLogging extends Construct {
  readonly options: IotLoggingOptions;
  readonly logGroup: CloudwatchLogGroup;
  readonly role: ServiceRole;

  constructor(scope: Construct, id: string, props: IotLoggingProps) {
    super(scope, id);
    const { arns } = props;
    this.logGroup = new CloudwatchLogGroup(this, 'log-group', {
      name: IOT_LOG_GROUP,
      retentionInDays: props.retentionDays,
    });
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
      dependsOn: [this.role.policy, this.logGroup],
    });
  }
}
