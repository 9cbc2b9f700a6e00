/**
 * A tiny HTTP proxy in front of kinesalite that injects Kinesis failures in the real wire protocol
 * (JSON 1.1): per-entry `ProvisionedThroughputExceededException` (those entries are NOT forwarded, so
 * kinesalite stores exactly what the client was told succeeded), whole-request error responses, and
 * dropped connections. Everything not PutRecords passes through untouched.
 */

import { once } from 'node:events';
import http from 'node:http';

export interface PutRecordsEntry {
  Data: string;
  PartitionKey: string;
  ExplicitHashKey?: string;
}

export type RequestFault =
  | { kind: 'status'; status: number; type: string; message?: string }
  | { kind: 'drop' };

export interface FaultPlan {
  /** Called per PutRecords call (0-based); a fault fails the whole call. */
  request?: (call: number) => RequestFault | undefined;
  /** Called per entry; true = answer this entry with ProvisionedThroughputExceededException. */
  throttleEntry?: (entry: PutRecordsEntry, call: number, index: number) => boolean;
}

export interface FaultProxy {
  endpoint: string;
  /** PutRecords calls seen, and per-entry throttles injected. */
  calls: number;
  throttled: number;
  requestFaults: number;
  plan: FaultPlan;
  close(): Promise<void>;
}

export async function startFaultProxy(upstreamPort: number, plan: FaultPlan = {}): Promise<FaultProxy> {
  const state: FaultProxy = {
    endpoint: '',
    calls: 0,
    throttled: 0,
    requestFaults: 0,
    plan,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };

  const forward = (
    req: http.IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, 'content-length': String(body.byteLength) };
      const up = http.request(
        { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 500, headers: res.headers, body: Buffer.concat(chunks) }),
          );
        },
      );
      up.on('error', reject);
      up.end(body);
    });

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    try {
      if (req.headers['x-amz-target'] !== 'Kinesis_20131202.PutRecords') {
        const up = await forward(req, body);
        res.writeHead(up.status, up.headers).end(up.body);
        return;
      }
      const call = state.calls++;
      const fault = state.plan.request?.(call);
      if (fault?.kind === 'drop') {
        state.requestFaults++;
        req.socket.destroy();
        return;
      }
      if (fault?.kind === 'status') {
        state.requestFaults++;
        const payload = JSON.stringify({
          __type: fault.type,
          message: fault.message ?? `injected ${fault.type}`,
        });
        res
          .writeHead(fault.status, {
            'content-type': 'application/x-amz-json-1.1',
            'x-amzn-errortype': fault.type,
          })
          .end(payload);
        return;
      }
      const request = JSON.parse(body.toString('utf8')) as {
        Records: PutRecordsEntry[];
        [k: string]: unknown;
      };
      const throttle = request.Records.map((entry, i) => state.plan.throttleEntry?.(entry, call, i) ?? false);
      const pass = request.Records.filter((_, i) => !throttle[i]);
      let passed: Array<Record<string, unknown>> = [];
      if (pass.length > 0) {
        const up = await forward(req, Buffer.from(JSON.stringify({ ...request, Records: pass })));
        if (up.status !== 200) {
          res.writeHead(up.status, up.headers).end(up.body);
          return;
        }
        passed = (JSON.parse(up.body.toString('utf8')) as { Records: Array<Record<string, unknown>> })
          .Records;
      }
      let next = 0;
      const records = throttle.map((t) => {
        if (!t) return passed[next++];
        state.throttled++;
        return {
          ErrorCode: 'ProvisionedThroughputExceededException',
          ErrorMessage: 'Rate exceeded for shard (injected)',
        };
      });
      const failed = records.filter((r) => r && 'ErrorCode' in r && r.ErrorCode).length;
      res
        .writeHead(200, { 'content-type': 'application/x-amz-json-1.1' })
        .end(JSON.stringify({ FailedRecordCount: failed, Records: records }));
    } catch (error) {
      res.writeHead(502).end(String(error));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return state;
}
