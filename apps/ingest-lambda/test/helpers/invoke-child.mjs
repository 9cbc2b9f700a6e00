// Invokes a Lambda bundle once in a fresh Node process (a cold start, as the local stack runs it):
// argv = bundle path, event JSON path. Logs go to stdout as the bundle writes them; the response is the
// last stdout line, prefixed with RESULT.
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

const [bundle, eventPath] = process.argv.slice(2);
const event = JSON.parse(await readFile(eventPath, 'utf8'));
const context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'alleycat-ingest',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:alleycat-ingest',
  memoryLimitInMB: '256',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/alleycat-ingest',
  logStreamName: '2026/11/27/[$LATEST]abcdef',
  getRemainingTimeInMillis: () => 60_000,
};
const { handler } = await import(pathToFileURL(bundle).href);
let result;
try {
  result = await handler(event, context);
} catch (error) {
  // What Lambda reports for a function error (it then retries the batch).
  result = { errorType: error?.name, errorMessage: error?.message };
}
// Exit once stdout is flushed (a pipe is asynchronous; keep-alive sockets would hold the process open).
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`, () => process.exit(0));
