import { IamRole } from '@cdktf/provider-aws/lib/iam-role/index.js';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy/index.js';
import { Construct } from 'constructs';
import { assumeRolePolicy, type Condition, type PolicyDocument, renderPolicy } from '../policy.js';

export interface ServiceRoleProps {
  name: string;
  description: string;
  /** The service principal allowed to assume the role, e.g. `iot.amazonaws.com`. */
  service: string;
  /** Trust-policy condition scoping the service to this account (confused-deputy protection). */
  trustCondition?: Condition;
  /** The role's only permissions, as one inline policy. */
  policy: PolicyDocument;
}

/** An IAM role one AWS service assumes, with exactly one inline policy and no managed policies. */
export class ServiceRole extends Construct {
  readonly role: IamRole;
  readonly policy: IamRolePolicy;

  constructor(scope: Construct, id: string, props: ServiceRoleProps) {
    super(scope, id);
    this.role = new IamRole(this, 'role', {
      name: props.name,
      description: props.description,
      assumeRolePolicy: renderPolicy(assumeRolePolicy(props.service, props.trustCondition)),
    });
    this.policy = new IamRolePolicy(this, 'policy', {
      name: 'least-privilege',
      role: this.role.id,
      policy: renderPolicy(props.policy),
    });
  }

  get arn(): string {
    return this.role.arn;
  }
}
