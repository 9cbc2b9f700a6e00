/** Starts a real DynamoDB API (dynalite 4.0.0) in a child process on 127.0.0.1:0 and the state table in it. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import { STATE_TABLE } from '@alleycat/schema';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface Dynalite {
  endpoint: string;
  client: DynamoDBClient;
  createTable(name: string): Promise<void>;
  stop(): Promise<void>;
}

export const TEST_CREDENTIALS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };

export async function startDynalite(): Promise<Dynalite> {
  const script = fileURLToPath(new URL('./dynalite-child.mjs', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split('\n')[0];
      if (buffered.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`dynalite exited early (${code})`)));
    child.once('error', reject);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    region: 'us-east-1',
    endpoint,
    credentials: TEST_CREDENTIALS,
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true }) }),
  });
  return {
    endpoint,
    client,
    async createTable(name: string) {
      await client.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: STATE_TABLE.partitionKey, AttributeType: 'S' },
            { AttributeName: STATE_TABLE.sortKey, AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: STATE_TABLE.partitionKey, KeyType: 'HASH' },
            { AttributeName: STATE_TABLE.sortKey, KeyType: 'RANGE' },
          ],
        }),
      );
      // Even with createTableMs 0 the table is CREATING for a moment, and requests to it fail with
      // ResourceNotFoundException (as on AWS): wait until it is ACTIVE.
      for (let i = 0; i < 200; i++) {
        const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
        if (Table?.TableStatus === 'ACTIVE') return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`table ${name} did not become ACTIVE`);
    },
    async stop() {
      client.destroy();
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
