#!/usr/bin/env node
// `pnpm start` will bring up the local stack (apps/local-stack) and run a race; that package is not built yet.
console.log(`Alleycat — pnpm start
The local stack (MQTT broker, Kinesis, DynamoDB, IoT data plane, rule engine and event source mapping on
127.0.0.1) is not built yet; see issue "apps/local-stack and pnpm start". Until then:
  pnpm test     typecheck, lint and test every package
  pnpm bench    benchmarks (ratios against baselines measured in the same run)`);
