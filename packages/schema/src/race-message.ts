/**
 * Parsing the race message and its batch form. The parse functions never throw on bad input (only on a
 * `byteLength` outside the bytes given, a caller's bug).
 */
import { Buffer } from 'node:buffer';
import { checkSize, decodeJson, decodeText, parseJsonText, type WireInput, wireInput } from './decode.js';
import { RACE_BATCH, RACE_MESSAGE } from './definitions.js';
import { InvalidArgumentError, InvalidPayloadError, type ParseError } from './errors.js';
import { generateFastPath, MISS, withFastPath } from './fast-path.js';
import { checkIdentity, RACER_CLIENT_ID_PREFIX } from './identity.js';
import { RACE_BATCH_MAX_BYTES, RACE_MESSAGE_MAX_BYTES } from './limits.js';
import { generateRowScanner, generateScanner } from './scanner.js';
import type {
  RaceBatch,
  RaceBatchParseResult,
  RaceMessage,
  RaceMessageParseResult,
  RaceRecordParseResult,
  RaceRow,
  RaceRowVisitor,
} from './types.js';
import { compile, Invalid } from './validator.js';

const fastMessage = generateFastPath(RACE_MESSAGE);
const preciseMessage = compile(RACE_MESSAGE);
const validateMessage = withFastPath(RACE_MESSAGE, preciseMessage);
const validateBatch = withFastPath(RACE_BATCH, compile(RACE_BATCH));
// The message is flat, so it has a scanner (a test holds it to that); a nested one would always miss.
// A `samples` member makes a record a batch (`parseRaceRecord`), so the scanner leaves it to the full path.
const scanMessage = generateScanner(RACE_MESSAGE, { missOnKeys: ['samples'] }) ?? (() => MISS);
// `readRaceRecord`'s: the name, uuid and client id stay in the bytes (the name is usually the racer's last).
const scanMessageRow =
  generateRowScanner(RACE_MESSAGE, { missOnKeys: ['samples'], ranges: ['name', 'uuid', 'clientId'] }) ??
  (() => false);

const utf8 = new TextEncoder();
/** The UTF-8 bytes of the message being parsed, then a 0 (the scanner's end sentinel). */
const scratch = Buffer.allocUnsafe(RACE_MESSAGE_MAX_BYTES + 1);

/** Validates an already-parsed JSON value as a race message (also checks the sender's identity). */
export function validateRaceMessage(value: unknown): RaceMessageParseResult {
  const clean = validateMessage(value, '');
  if (clean instanceof Invalid) return { ok: false, error: clean.error };
  const message = clean as RaceMessage;
  const mismatch = checkIdentity(message);
  return mismatch === undefined ? { ok: true, message } : { ok: false, error: mismatch };
}

/**
 * Parses one race message from JSON text or UTF-8 bytes. Never throws. Unknown fields are ignored and not
 * copied; input over `RACE_MESSAGE_MAX_BYTES` is refused before parsing.
 */
export function parseRaceMessage(raw: WireInput): RaceMessageParseResult {
  const input = wireInput(raw);
  if (input instanceof Invalid) return { ok: false, error: input.error };
  // The scanner first, then the generated checks, then the precise validator.
  let message: unknown = MISS;
  let text: string | Invalid;
  if (typeof input === 'string') {
    text = decodeText(input, RACE_MESSAGE_MAX_BYTES);
    if (typeof text !== 'string') return { ok: false, error: text.error };
    message = scanText(text);
  } else {
    if (input.byteLength <= RACE_MESSAGE_MAX_BYTES) message = scanBytes(input, input.byteLength);
    text = message === MISS ? decodeText(input, RACE_MESSAGE_MAX_BYTES) : '';
    if (typeof text !== 'string') return { ok: false, error: text.error };
  }
  if (message === MISS) {
    const value = parseJsonText(text);
    if (value instanceof Invalid) return { ok: false, error: value.error };
    message = fastMessage(value);
    if (message === MISS) {
      const clean = preciseMessage(value, '');
      if (clean instanceof Invalid) return { ok: false, error: clean.error };
      message = clean;
    }
  }
  // Most records carry no client id: skip the call when absent.
  const parsed = message as RaceMessage;
  if (parsed.clientId === undefined) return { ok: true, message: parsed };
  const mismatch = checkIdentity(parsed);
  return mismatch === undefined ? { ok: true, message: parsed } : { ok: false, error: mismatch };
}

/** Reads a message from text with the scanner: the clean copy, or `MISS`. `text` is within the budget. */
function scanText(text: string): unknown {
  const encoded = utf8.encodeInto(text, scratch);
  if (encoded.read !== text.length) return MISS;
  scratch[encoded.written] = 0;
  return scanMessage(scratch, encoded.written, text);
}

/**
 * Reads a message from `bytes[0, length)` (within the budget) with the scanner: the clean copy or `MISS`.
 * Read in place when `bytes` is a Buffer with a 0 after the message (the sentinel the scanner needs, as
 * the Lambda's base64 decode leaves it), else from a copy. The scanner makes each string from its own bytes
 * (and checks and decodes the few non-ASCII ones itself), so no message pays for a text of the whole record,
 * let alone the checked UTF-8 decode of it, unless it misses.
 */
function scanBytes(bytes: Uint8Array, length: number): unknown {
  return scanMessage(sentinelled(bytes, length), length, '', true);
}

/** `bytes` if it is a Buffer with a 0 after `length` bytes, else a copy of them in the scratch with one. */
function sentinelled(bytes: Uint8Array, length: number): Buffer {
  if (bytes instanceof Buffer && bytes.length > length && bytes[length] === 0) return bytes;
  scratch.set(length === bytes.byteLength ? bytes : bytes.subarray(0, length));
  scratch[length] = 0;
  return scratch;
}

/**
 * Runs each path of the scanner a few times at load (known and unknown members, every value form, multi-byte
 * text, text and bytes, rows, a fallback). The optimizing compiler then sees type feedback for all of them;
 * otherwise the first message to take a path not yet seen can throw away the scanner's optimized code
 * (measured: runs at the floor's speed instead of 1.6×, until recompiled). Costs well under a millisecond.
 */
function primeScanner(): void {
  const samples = [
    '{"event":"update","deviceTimestamp":1620824038331,"second":3,"raceId":5402746,"name":"Hayden","racerId":0,"classId":1,"cadence":79.8,"resistance":79}',
    '{"event":"final","deviceTimestamp":1620824038331,"second":3,"raceId":5402746,"name":"Zoë 🚴","racerId":1,"classId":1,"cadence":60,"resistance":60.6,"uuid":"123e4567-e89b-12d3-a456-426614174000","clientId":"racer-1"}',
    ' { "fw" : "2.1\\u00e9", "device": {"hr": [140, -1.5e3, true, false, null]}, "event":"update","deviceTimestamp":1620824038331,"second":0,"raceId":5402746,"name":"Ana-María","racerId":1,"classId":1,"cadence":0.5,"resistance":0 } ',
    '{"event":"update","deviceTimestamp":1620824038331,"second":3,"raceId":5402746,"name":"Ha\\u0079den","racerId":0,"classId":1,"cadence":79.8,"resistance":79}',
  ];
  const encoder = new TextEncoder();
  const noop = () => {};
  for (let round = 0; round < 12; round++) {
    for (const sample of samples) {
      parseRaceMessage(sample);
      parseRaceMessage(encoder.encode(sample));
      readRaceRecord(Buffer.from(`${sample}\0`), noop, sample.length);
    }
  }
}

/** Like `parseRaceMessage`, but throws `InvalidPayloadError` (for code where bad input is a bug). */
export function assertRaceMessage(input: WireInput): RaceMessage {
  const result = parseRaceMessage(input);
  if (!result.ok) throw new InvalidPayloadError(result.error);
  return result.message;
}

/** Validates an already-parsed JSON value as a batch. */
export function validateRaceBatch(value: unknown): RaceBatchParseResult {
  const clean = validateBatch(value, '');
  if (clean instanceof Invalid) return { ok: false, error: clean.error };
  const batch = clean as RaceBatch;
  const mismatch = checkIdentity(batch);
  return mismatch === undefined ? { ok: true, batch } : { ok: false, error: mismatch };
}

/** Parses one batch message (several seconds of one racer). Never throws. */
export function parseRaceBatch(input: WireInput): RaceBatchParseResult {
  const value = decodeJson(input, RACE_BATCH_MAX_BYTES);
  if (value instanceof Invalid) return { ok: false, error: value.error };
  return validateRaceBatch(value);
}

/** The race messages a batch stands for, one per sample, in the batch's order. */
export function expandBatch(batch: RaceBatch): RaceMessage[] {
  const { raceId, name, racerId, classId, clientId } = batch;
  return batch.samples.map((sample) => {
    const message: RaceMessage = {
      event: sample.event,
      deviceTimestamp: sample.deviceTimestamp,
      second: sample.second,
      raceId,
      name,
      racerId,
      classId,
      cadence: sample.cadence,
      resistance: sample.resistance,
    };
    if (sample.uuid !== undefined) message.uuid = sample.uuid;
    if (clientId !== undefined) message.clientId = clientId;
    return message;
  });
}

/** The fields a batch holds once for all its samples. */
const BATCH_SHARED_FIELDS = ['raceId', 'racerId', 'classId', 'name', 'clientId'] as const;

/**
 * Packs messages of one racer in one race into a batch (the inverse of `expandBatch`); throws
 * `InvalidArgumentError` when they cannot be one batch without losing something: none at all, or differing
 * in a field the batch holds once (raceId, racerId, classId, name, clientId).
 */
export function toBatch(messages: readonly RaceMessage[]): RaceBatch {
  const first = messages[0];
  if (first === undefined) throw new InvalidArgumentError('messages', 'toBatch: no messages');
  const samples = messages.map((m, i) => {
    for (const field of BATCH_SHARED_FIELDS) {
      if (m[field] !== first[field]) {
        throw new InvalidArgumentError(
          `messages[${i}].${field}`,
          `toBatch: a batch holds one ${field}; got ${JSON.stringify(m[field])} after ${JSON.stringify(first[field])}`,
        );
      }
    }
    const { event, deviceTimestamp, second, cadence, resistance, uuid } = m;
    return uuid === undefined
      ? { event, deviceTimestamp, second, cadence, resistance }
      : { event, deviceTimestamp, second, cadence, resistance, uuid };
  });
  const batch: RaceBatch = {
    raceId: first.raceId,
    name: first.name,
    racerId: first.racerId,
    classId: first.classId,
    samples,
  };
  if (first.clientId !== undefined) batch.clientId = first.clientId;
  return batch;
}

/**
 * Parses a record in either wire form and returns its race messages: what a consumer of the stream calls.
 * A JSON object with a `samples` member is a batch; anything else is judged as a single message.
 */
export function parseRaceRecord(input: WireInput): RaceRecordParseResult;
/**
 * `bytes[0, byteLength)` (all of it by default) is the record: a consumer that decodes records into one
 * reused buffer passes it without a view per record (and with a 0 after the record, it is read in place).
 */
export function parseRaceRecord(
  bytes: ArrayBufferLike | ArrayBufferView,
  byteLength?: number,
): RaceRecordParseResult;
export function parseRaceRecord(raw: WireInput, byteLength?: number): RaceRecordParseResult {
  let input = wireInput(raw);
  if (input instanceof Invalid) return { ok: false, error: input.error };
  // Most records are single messages the scanner reads; anything else takes the full path below.
  let message: unknown = MISS;
  if (typeof input === 'string') {
    const text = decodeText(input, RACE_MESSAGE_MAX_BYTES);
    if (typeof text === 'string') message = scanText(text);
  } else {
    // `null` from an untyped caller means "all of it", as `undefined` does, on every path below.
    const length = byteLength ?? input.byteLength;
    if (!Number.isInteger(length) || length < 0 || length > input.byteLength) {
      throw new InvalidArgumentError(
        'byteLength',
        `parseRaceRecord: ${length} is not within the ${input.byteLength} bytes given`,
      );
    }
    if (length <= RACE_MESSAGE_MAX_BYTES) message = scanBytes(input, length);
    if (message === MISS && length !== input.byteLength) input = input.subarray(0, length);
  }
  if (message !== MISS) {
    const mismatch = checkIdentity(message as RaceMessage);
    if (mismatch !== undefined) return { ok: false, error: mismatch };
    return { ok: true, messages: [message as RaceMessage], batched: false };
  }
  const value = decodeJson(input, RACE_BATCH_MAX_BYTES);
  if (value instanceof Invalid) return { ok: false, error: value.error };
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, 'samples')) {
    const result = validateRaceBatch(value);
    return result.ok ? { ok: true, messages: expandBatch(result.batch), batched: true } : result;
  }
  // A single message keeps its own, tighter budget even though the record budget is the batch's.
  const oversize = checkSize(input, RACE_MESSAGE_MAX_BYTES);
  if (oversize !== undefined) return { ok: false, error: oversize };
  const result = validateRaceMessage(value);
  return result.ok ? { ok: true, messages: [result.message], batched: false } : result;
}

/** What the row scanner fills: a row, and where the fields it leaves in the bytes are. */
interface ScannedRow extends RaceRow {
  nameStart: number;
  nameEnd: number;
  uuidStart: number;
  uuidEnd: number;
  clientIdStart: number;
  clientIdEnd: number;
}

const row = {
  event: 'update',
  deviceTimestamp: 0,
  second: 0,
  raceId: 0,
  name: '',
  racerId: 0,
  classId: 0,
  cadence: 0,
  resistance: 0,
} as ScannedRow;
// The offsets are the reader's own: not enumerable, so a visitor's `{ ...row }` or JSON of it is the message.
for (const offset of ['nameStart', 'nameEnd', 'uuidStart', 'uuidEnd', 'clientIdStart', 'clientIdEnd'])
  Object.defineProperty(row, offset, { value: -1, writable: true, enumerable: false });

/**
 * Recent racers' last names, direct-mapped by racerId (a racer sends the same name every second, so most
 * names are found here rather than made; a slot two racers share just makes one again).
 */
const NAME_SLOTS = 1 << 14;
const nameIds = new Float64Array(NAME_SLOTS).fill(-1);
const nameTexts: string[] = new Array<string>(NAME_SLOTS).fill('');

/** The name in `b[start, end)`: the racer's last one when the bytes spell it (ASCII), else made. */
function nameOf(b: Buffer, start: number, end: number, racerId: number): string {
  const slot = racerId % NAME_SLOTS;
  if (nameIds[slot] === racerId) {
    const last = nameTexts[slot]!;
    if (last.length === end - start) {
      let i = 0;
      while (i < last.length) {
        const byte = b[start + i]!;
        if (byte >= 0x80 || byte !== last.charCodeAt(i)) break;
        i++;
      }
      if (i === last.length) return last;
    }
  }
  // Checked well-formed UTF-8 by the scanner; ASCII (most names) is cheaper to make a byte a character.
  let ascii = true;
  for (let i = start; i < end; i++) if (b[i]! >= 0x80) ascii = false;
  const name = b.toString(ascii ? 'latin1' : 'utf8', start, end);
  nameIds[slot] = racerId;
  nameTexts[slot] = name;
  return name;
}

/** Whether `b[start, end)` spell the client id of `racerId` (`racer-{racerId}`, DESIGN § Identities). */
function isClientIdOf(b: Buffer, start: number, end: number, racerId: number): boolean {
  const prefix = RACER_CLIENT_ID_PREFIX.length;
  if (end - start <= prefix) return false;
  for (let i = 0; i < prefix; i++) if (b[start + i] !== RACER_CLIENT_ID_PREFIX.charCodeAt(i)) return false;
  // The racerId's digits, from the last: a valid id is an integer, 0 ≤ id < 2^53, written without exponent.
  let rest = racerId;
  let i = end;
  do {
    const digit = rest % 10;
    if (b[--i] !== 0x30 + digit) return false;
    rest = (rest - digit) / 10;
  } while (rest > 0 && i > start + prefix);
  return rest === 0 && i === start + prefix;
}

/**
 * Reads a record in either wire form, as `parseRaceRecord` does and with its verdicts, and hands each of its
 * messages to `visit` as a row: the same object refilled (copy what you keep), without the `uuid` and
 * `clientId` (checked, not copied). Returns the error, or undefined when every message was visited; a record
 * is visited whole or not at all. For a consumer of the stream that reads every record's few fields: a plain
 * message costs no object, no uuid or client id string, and no name string when the racer's is unchanged.
 * `bytes[0, byteLength)` is the record (all of `bytes` by default); with a 0 after it in a Buffer, it is read
 * in place. Never throws but for a `byteLength` outside the bytes (a caller's bug).
 */
export function readRaceRecord(
  bytes: Uint8Array,
  visit: RaceRowVisitor,
  // `?.`: an untyped caller's null or undefined bytes get `wrong_type` from parseRaceRecord, not a TypeError.
  byteLength: number = (bytes as Uint8Array | null | undefined)?.byteLength ?? 0,
): ParseError | undefined {
  // Anything but a Uint8Array and a length within it (an untyped caller's ArrayBuffer, a bad length) is
  // answered by `parseRaceRecord`, which reads every wire input and throws on a length outside the bytes.
  if (
    bytes instanceof Uint8Array &&
    Number.isInteger(byteLength) &&
    byteLength >= 0 &&
    byteLength <= bytes.byteLength &&
    byteLength <= RACE_MESSAGE_MAX_BYTES
  ) {
    const b = sentinelled(bytes, byteLength);
    if (
      scanMessageRow(b, byteLength, row) &&
      (row.clientIdStart < 0 || isClientIdOf(b, row.clientIdStart, row.clientIdEnd, row.racerId))
    ) {
      row.name = nameOf(b, row.nameStart, row.nameEnd, row.racerId);
      visit(row);
      return undefined;
    }
  }
  // Anything else (a batch, a miss, an error to word): the full path, its messages copied into the row.
  const parsed = parseRaceRecord(bytes, byteLength);
  if (!parsed.ok) return parsed.error;
  for (const m of parsed.messages) {
    row.event = m.event;
    row.deviceTimestamp = m.deviceTimestamp;
    row.second = m.second;
    row.raceId = m.raceId;
    row.name = m.name;
    row.racerId = m.racerId;
    row.classId = m.classId;
    row.cadence = m.cadence;
    row.resistance = m.resistance;
    visit(row);
  }
  return undefined;
}

/** The wire form of a race message (JSON, fields in the seed's order). */
export function encodeRaceMessage(message: RaceMessage): string {
  return JSON.stringify(message);
}

// Last: the priming reaches every declaration above, the row scanner's state included.
primeScanner();
