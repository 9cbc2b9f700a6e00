/** `pnpm synth` / `cdktf synth|deploy`: writes the stack to `cdktf.out/stacks/<env>-alleycat/cdk.tf.json`. */
import { synthesize } from './app.js';
import { AlleycatInfraError } from './errors.js';

try {
  const { stack, stackDir } = synthesize();
  const plan = stack.telemetry.capacity;
  const mode = stack.config.streamMode;
  console.log(
    `alleycat: synthesized ${stack.node.id} → ${stackDir} (${mode === 'provisioned' ? `${plan.shards} shard(s) for ${stack.config.riders} riders` : 'on-demand stream'})`,
  );
} catch (error) {
  if (error instanceof AlleycatInfraError) {
    console.error(`alleycat: ${error.name}: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
