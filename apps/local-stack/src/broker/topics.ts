/**
 * Topic name and filter rules of MQTT 5.0 § 4.7, as the adapter checks them before aedes sees a packet, and IoT
 * Core's topic quotas, which both the 3.1.1 and the MQTT 5 paths apply.
 */
import { IOT_TOPIC_MAX_BYTES, IOT_TOPIC_MAX_SLASHES } from '@alleycat/schema';
import { parseBasicIngestTopic } from '../rules/basic-ingest.js';

/**
 * What makes a topic name or filter one IoT Core refuses (over 256 bytes, or over 7 slashes, a Basic Ingest
 * prefix `$aws/rules/{rule}/` not counted), or undefined.
 */
export function iotTopicProblem(topic: string): string | undefined {
  const counted = parseBasicIngestTopic(topic)?.topic ?? topic;
  const bytes = Buffer.byteLength(counted);
  if (bytes > IOT_TOPIC_MAX_BYTES) return `is ${bytes} bytes; IoT Core allows ${IOT_TOPIC_MAX_BYTES}`;
  let slashes = 0;
  for (let i = 0; i < counted.length; i++) if (counted.charCodeAt(i) === 0x2f) slashes++;
  if (slashes > IOT_TOPIC_MAX_SLASHES)
    return `has ${slashes} slashes; IoT Core allows ${IOT_TOPIC_MAX_SLASHES} (8 levels)`;
  return undefined;
}

/** A PUBLISH topic: not empty, no wildcards, no NUL. */
export function isValidTopicName(topic: string): boolean {
  return topic.length > 0 && !topic.includes('+') && !topic.includes('#') && !topic.includes('\u0000');
}

/** Why a will could never be published from `topic` (a wildcard, empty, over IoT Core's quotas), or undefined. */
export function willTopicProblem(topic: string): string | undefined {
  return isValidTopicName(topic) ? iotTopicProblem(topic) : 'is not a topic name (no wildcards, not empty)';
}

/** A SUBSCRIBE filter: `+` alone in its level, `#` alone and last. */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0 || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return false;
    if (level.includes('+') && level !== '+') return false;
  }
  return true;
}

/** Shared subscriptions (`$share/{ShareName}/{filter}`): IoT Core has them; aedes 1.2 does not. */
export function isSharedSubscription(filter: string): boolean {
  return filter.startsWith('$share/');
}
