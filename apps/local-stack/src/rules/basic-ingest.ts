/**
 * AWS IoT Basic Ingest: a message published to `$aws/rules/{ruleName}/{topic}` goes to that one rule, without
 * the message broker — no subscriber receives it, nothing is retained, and the rule's `topic()` sees `{topic}`
 * (the prefix "isn't available to the topic function", AWS IoT developer guide § Basic Ingest). The rule is
 * chosen by name, so its FROM filter does not decide (AWS makes FROM optional for rules used only this way).
 * Devices cannot subscribe to these reserved topics. Pure.
 */

export const BASIC_INGEST_PREFIX = '$aws/rules/';

/** `$aws/rules/{ruleName}[/{topic}]` → its rule name and topic; undefined for any other topic. */
export function parseBasicIngestTopic(topic: string): { ruleName: string; topic: string } | undefined {
  if (!topic.startsWith(BASIC_INGEST_PREFIX)) return undefined;
  const rest = topic.slice(BASIC_INGEST_PREFIX.length);
  const slash = rest.indexOf('/');
  const ruleName = slash < 0 ? rest : rest.slice(0, slash);
  if (ruleName.length === 0) return undefined;
  return { ruleName, topic: slash < 0 ? '' : rest.slice(slash + 1) };
}

/**
 * Whether a subscription filter could receive Basic Ingest topics: `$aws/rules/…`, `$aws/+/…` or `$aws/#`.
 * (Filters starting with a wildcard never match `$` topics, MQTT § 4.7.2.)
 */
export function reachesBasicIngest(filter: string): boolean {
  const [first, second] = filter.split('/');
  return first === '$aws' && (second === 'rules' || second === '+' || second === '#');
}
