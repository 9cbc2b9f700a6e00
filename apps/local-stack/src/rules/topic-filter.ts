/** MQTT topic filters (`+` one level, `#` the rest), as IoT rules' `FROM` clauses use them. Pure. */
import { ConfigurationError } from '../errors.js';

export interface TopicFilter {
  filter: string;
  levels: string[];
}

export function parseTopicFilter(filter: string): TopicFilter {
  const levels = filter.split('/');
  levels.forEach((level, i) => {
    if (level === '#' && i !== levels.length - 1)
      throw new ConfigurationError('FROM', `"#" must be the last level in ${JSON.stringify(filter)}`);
    if (level.length > 1 && (level.includes('+') || level.includes('#')))
      throw new ConfigurationError('FROM', `wildcards must fill a whole level in ${JSON.stringify(filter)}`);
  });
  return { filter, levels };
}

export function topicMatches(filter: TopicFilter, topic: string): boolean {
  const parts = topic.split('/');
  for (let i = 0; i < filter.levels.length; i++) {
    const level = filter.levels[i]!;
    if (level === '#') return true;
    if (i >= parts.length) return false;
    if (level !== '+' && level !== parts[i]) return false;
  }
  return parts.length === filter.levels.length;
}
