/** Topic name and filter rules of MQTT 5.0 § 4.7, as the adapter checks them before aedes sees a packet. */

/** A PUBLISH topic: not empty, no wildcards, no NUL. */
export function isValidTopicName(topic: string): boolean {
  return topic.length > 0 && !topic.includes('+') && !topic.includes('#') && !topic.includes('\u0000');
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
