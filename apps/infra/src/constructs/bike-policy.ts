import { escapeForTerraform, INGEST_TOPIC, RESULTS_TOPIC_PREFIX } from '@alleycat/schema';
import { IotPolicy } from '@cdktf/provider-aws/lib/iot-policy/index.js';
import { Construct } from 'constructs';
import type { Arns } from '../naming.js';
import { allow, policyDocument, renderPolicy } from '../policy.js';

/** IoT policy variable: the thing name of the certificate's attached thing (`racer-{racerId}`). */
export const THING_NAME_VARIABLE = '${iot:Connection.Thing.ThingName}';

/**
 * The IoT policy every bike's certificate gets (DESIGN § Identities): connect only as the client id equal to
 * its thing name (and only with a thing attached), publish only to the ingest topic, subscribe to and receive
 * only the results topics.
 */
export class BikePolicy extends Construct {
  readonly policy: IotPolicy;

  constructor(scope: Construct, id: string, props: { name: string; arns: Arns }) {
    super(scope, id);
    const { arns } = props;
    const document = policyDocument(
      allow(
        'ConnectAsOwnThing',
        'iot:Connect',
        arns.iot(`client/${escapeForTerraform(THING_NAME_VARIABLE)}`),
        {
          Bool: { 'iot:Connection.Thing.IsAttached': 'true' },
        },
      ),
      allow('PublishRaceMessages', 'iot:Publish', arns.iot(`topic/${INGEST_TOPIC}`)),
      allow('SubscribeToResults', 'iot:Subscribe', arns.iot(`topicfilter/${RESULTS_TOPIC_PREFIX}/*`)),
      allow('ReceiveResults', 'iot:Receive', arns.iot(`topic/${RESULTS_TOPIC_PREFIX}/*`)),
    );
    this.policy = new IotPolicy(this, 'policy', { name: props.name, policy: renderPolicy(document) });
    this.policy.overrideLogicalId('bike_policy');
  }
}
