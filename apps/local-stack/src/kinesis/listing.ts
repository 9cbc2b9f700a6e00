/**
 * Account and listing calls kinesalite answers partly or not at all, completed here as Kinesis answers them:
 * `ListShards` pages (`MaxResults`, `NextToken`; kinesalite returns every shard at once), `DescribeStream`
 * pages (`Limit`, `ExclusiveStartShardId`, `HasMoreShards`; kinesalite checks both and ignores them), `ListStreams`
 * carries `StreamSummaries`, `DescribeStreamSummary` says the stream is provisioned, and `DescribeLimits`
 * answers. Each takes the call's parameters and a way to ask kinesalite, and returns an answer or an error
 * for the layer to send in the client's wire format.
 */
/** kinesalite's JSON answer to one call: its body parsed, or its error (status, type, message). */
export type UpstreamAnswer =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; status: number; type: string; message: string };

export type AskKinesalite = (operation: string, params: Record<string, unknown>) => Promise<UpstreamAnswer>;

export type ListingResult =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; status: number; type: string; message: string };

/** Kinesis returns at most this many shards per `ListShards`, whatever `MaxResults` says (its default too). */
export const LIST_SHARDS_PAGE_MAX = 1_000;
/** A `ListShards` `NextToken` expires 300 s after it was handed out. */
export const NEXT_TOKEN_LIFETIME_MS = 300_000;
/** The default shard quota per account and Region (500 in the larger Regions, 200 in others). */
export const ACCOUNT_SHARD_LIMIT = 500;
export const ON_DEMAND_STREAM_COUNT_LIMIT = 50;

interface PageToken {
  stream: string;
  /** Last shard id handed out. */
  after: string;
  expiresAtMs: number;
}

/** A client error (HTTP 400) of this `type`, for the layer to send in the client's wire format. */
export const refuse = (type: string, message: string): ListingResult => ({
  ok: false,
  status: 400,
  type,
  message,
});

const invalid = (message: string): ListingResult => refuse('InvalidArgumentException', message);

function encodeToken(token: PageToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeToken(text: string): PageToken | undefined {
  try {
    const token = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<PageToken>;
    if (
      typeof token.stream === 'string' &&
      typeof token.after === 'string' &&
      typeof token.expiresAtMs === 'number'
    )
      return token as PageToken;
  } catch {}
  return undefined;
}

/** `ListShards` one page at a time, as Kinesis pages it. */
export async function listShards(
  params: Record<string, unknown>,
  ask: AskKinesalite,
  nowMs: number,
): Promise<ListingResult> {
  const nextToken = params['NextToken'];
  const maxResults = params['MaxResults'];
  if (
    maxResults !== undefined &&
    !(
      typeof maxResults === 'number' &&
      Number.isInteger(maxResults) &&
      maxResults >= 1 &&
      maxResults <= 10_000
    )
  ) {
    return invalid(
      `1 validation error detected: Value '${String(maxResults)}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 10000`,
    );
  }
  let stream = params['StreamName'];
  let after = params['ExclusiveStartShardId'];
  if (nextToken !== undefined) {
    if (stream !== undefined || params['StreamARN'] !== undefined)
      return invalid('NextToken and StreamName cannot be provided together.');
    if (after !== undefined)
      return invalid('NextToken and ExclusiveStartShardId cannot be provided together.');
    const token = typeof nextToken === 'string' ? decodeToken(nextToken) : undefined;
    if (token === undefined) return invalid('Invalid NextToken.');
    if (nowMs > token.expiresAtMs) {
      return refuse('ExpiredNextTokenException', 'The NextToken has expired.');
    }
    stream = token.stream;
    after = token.after;
  }
  // kinesalite checks the rest (the stream, the shard id's form) and gives AWS's messages.
  const answer = await ask('ListShards', {
    ...(stream === undefined ? {} : { StreamName: stream }),
    ...(after === undefined ? {} : { ExclusiveStartShardId: after }),
  });
  if (!answer.ok) return answer;
  const shards = Array.isArray(answer.value['Shards'])
    ? (answer.value['Shards'] as Array<{ ShardId: string }>)
    : [];
  const pageSize = Math.min(
    typeof maxResults === 'number' ? maxResults : LIST_SHARDS_PAGE_MAX,
    LIST_SHARDS_PAGE_MAX,
  );
  const page = shards.slice(0, pageSize);
  const value: Record<string, unknown> = { Shards: page };
  if (shards.length > page.length && typeof stream === 'string') {
    value['NextToken'] = encodeToken({
      stream,
      after: page[page.length - 1]!.ShardId,
      expiresAtMs: nowMs + NEXT_TOKEN_LIFETIME_MS,
    });
  }
  return { ok: true, value };
}

/** Shards `DescribeStream` returns when the call gives no `Limit`, and at most whatever it gives (API reference). */
export const DESCRIBE_STREAM_MAX_SHARDS = 100;

/** `DescribeStream` one page of shards at a time: those after `ExclusiveStartShardId`, at most `Limit`. */
export async function describeStream(
  params: Record<string, unknown>,
  ask: AskKinesalite,
): Promise<ListingResult> {
  // kinesalite validates every parameter (with AWS's messages) and answers with every shard.
  const answer = await ask('DescribeStream', params);
  if (!answer.ok) return answer;
  const description = answer.value['StreamDescription'] as Record<string, unknown> | undefined;
  if (description === undefined || !Array.isArray(description['Shards'])) return answer;
  const after = params['ExclusiveStartShardId'];
  const limit = params['Limit'];
  const shards = description['Shards'] as Array<{ ShardId: string }>;
  // Shard ids are fixed-width (shardId-000000000000), so their order is their string order.
  const from = typeof after === 'string' ? shards.filter((shard) => shard.ShardId > after) : shards;
  const page = from.slice(
    0,
    Math.min(typeof limit === 'number' ? limit : Infinity, DESCRIBE_STREAM_MAX_SHARDS),
  );
  return {
    ok: true,
    value: {
      ...answer.value,
      StreamDescription: { ...description, Shards: page, HasMoreShards: from.length > page.length },
    },
  };
}

/** The summary of one stream, as `ListStreams` gives it in `StreamSummaries`. */
function streamSummary(description: Record<string, unknown>): Record<string, unknown> {
  return {
    StreamName: description['StreamName'],
    StreamARN: description['StreamARN'],
    StreamStatus: description['StreamStatus'],
    StreamModeDetails: { StreamMode: 'PROVISIONED' },
    StreamCreationTimestamp: description['StreamCreationTimestamp'],
  };
}

/** Streams `ListStreams` returns when the call gives no `Limit`. */
export const LIST_STREAMS_DEFAULT_LIMIT = 100;

/** Every stream name, in order: kinesalite's own paging (`ExclusiveStartStreamName`) does not work on its store. */
async function allStreamNames(ask: AskKinesalite): Promise<string[] | ListingResult> {
  const answer = await ask('ListStreams', { Limit: 10_000 });
  if (!answer.ok) return answer;
  return (answer.value['StreamNames'] as string[] | undefined) ?? [];
}

/**
 * `ListStreams` paged here (`Limit`, `ExclusiveStartStreamName`, and the `NextToken` the SDKs' paginators
 * follow), with `StreamSummaries` beside `StreamNames` (kinesalite gives the names only).
 */
export async function listStreams(
  params: Record<string, unknown>,
  ask: AskKinesalite,
): Promise<ListingResult> {
  const limit = params['Limit'];
  if (
    limit !== undefined &&
    !(typeof limit === 'number' && Number.isInteger(limit) && limit >= 1 && limit <= 10_000)
  )
    return invalid(
      `1 validation error detected: Value '${String(limit)}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000`,
    );
  let after = params['ExclusiveStartStreamName'];
  const token = params['NextToken'];
  if (token !== undefined) {
    if (after !== undefined)
      return invalid('NextToken and ExclusiveStartStreamName cannot be provided together.');
    after = typeof token === 'string' ? Buffer.from(token, 'base64url').toString('utf8') : '';
    if (after === '') return invalid('Invalid NextToken.');
  }
  const all = await allStreamNames(ask);
  if (!Array.isArray(all)) return all;
  const from = typeof after === 'string' ? all.filter((name) => name > after) : all;
  const names = from.slice(0, typeof limit === 'number' ? limit : LIST_STREAMS_DEFAULT_LIMIT);
  const summaries: Array<Record<string, unknown>> = [];
  for (const name of names) {
    const described = await ask('DescribeStreamSummary', { StreamName: name });
    // A stream deleted between the two calls is simply not summarised.
    if (described.ok) {
      summaries.push(streamSummary(described.value['StreamDescriptionSummary'] as Record<string, unknown>));
    }
  }
  const more = from.length > names.length;
  const value: Record<string, unknown> = {
    StreamNames: names,
    HasMoreStreams: more,
    StreamSummaries: summaries,
  };
  if (more) value['NextToken'] = Buffer.from(names[names.length - 1]!).toString('base64url');
  return { ok: true, value };
}

/** Adds what `DescribeStreamSummary` says on AWS and kinesalite leaves out: the capacity mode. */
export function completeStreamSummary(value: Record<string, unknown>): Record<string, unknown> {
  const summary = value['StreamDescriptionSummary'] as Record<string, unknown> | undefined;
  if (summary === undefined || summary['StreamModeDetails'] !== undefined) return value;
  return {
    ...value,
    StreamDescriptionSummary: { ...summary, StreamModeDetails: { StreamMode: 'PROVISIONED' } },
  };
}

/** `DescribeLimits`: the account's shard quota and the open shards of its (provisioned) streams. */
export async function describeLimits(ask: AskKinesalite): Promise<ListingResult> {
  const names = await allStreamNames(ask);
  if (!Array.isArray(names)) return names;
  let open = 0;
  for (const name of names) {
    const described = await ask('DescribeStreamSummary', { StreamName: name });
    if (!described.ok) continue;
    const summary = described.value['StreamDescriptionSummary'] as { OpenShardCount?: number };
    open += summary.OpenShardCount ?? 0;
  }
  return {
    ok: true,
    value: {
      ShardLimit: ACCOUNT_SHARD_LIMIT,
      OpenShardCount: open,
      OnDemandStreamCount: 0,
      OnDemandStreamCountLimit: ON_DEMAND_STREAM_COUNT_LIMIT,
    },
  };
}

/** Calls kinesalite does not have, with what to use instead. */
export const NOT_EMULATED: Record<string, string> = {
  UpdateShardCount:
    'UpdateShardCount is not emulated by the local stack (kinesalite has no resharding by count): reshard with SplitShard and MergeShards',
};
