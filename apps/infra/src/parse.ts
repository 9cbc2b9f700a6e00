/**
 * Parsers for configuration values (pure). Each takes the raw value and the name the user gave it under, and
 * throws a `ConfigError` naming that setting when the value is invalid.
 */
import { parseScheduleExpression } from '@alleycat/schema';
import { LOG_RETENTION_DAYS } from './constants.js';
import { ConfigError } from './errors.js';

export const ENV_NAME = /^[a-z][a-z0-9-]{0,14}[a-z0-9]$|^[a-z]$/;
export const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
export const ACCOUNT_ID = /^\d{12}$/;
export const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
export const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** An e-mail address as SNS takes one: something@domain.tld, no spaces. */
export const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;

export function text(raw: unknown, name: string): string {
  if (typeof raw === 'string') return raw.trim();
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  throw new ConfigError(name, raw, 'must be a string');
}

export function oneOf<T extends string>(values: readonly T[], transform: (s: string) => string = (s) => s) {
  return (raw: unknown, name: string): T => {
    const value = transform(text(raw, name));
    if (!(values as readonly string[]).includes(value)) {
      throw new ConfigError(name, raw, `must be one of ${values.join(', ')}`);
    }
    return value as T;
  };
}

export function integer(min: number, max: number) {
  return (raw: unknown, name: string): number => {
    const s = text(raw, name);
    const value = Number(s);
    if (s === '' || !Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(name, raw, `must be an integer from ${min} to ${max}`);
    }
    return value;
  };
}

export function boolean(raw: unknown, name: string): boolean {
  const s = text(raw, name).toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  if (['false', '0', 'no', 'off'].includes(s)) return false;
  throw new ConfigError(name, raw, 'must be true or false');
}

export function pattern(re: RegExp, what: string) {
  return (raw: unknown, name: string): string => {
    const value = text(raw, name);
    if (!re.test(value)) throw new ConfigError(name, raw, `must be ${what}`);
    return value;
  };
}

/** Tags as a JSON object (context) or `key=value,key=value` (env). */
export function tags(raw: unknown, name: string): Record<string, string> {
  let entries: Array<[string, unknown]>;
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    entries = Object.entries(raw);
  } else {
    const s = text(raw, name);
    entries =
      s === ''
        ? []
        : s.split(',').map((pair) => {
            const at = pair.indexOf('=');
            if (at < 1) throw new ConfigError(name, raw, `"${pair}" is not key=value`);
            return [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
          });
  }
  const result: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (typeof value !== 'string') throw new ConfigError(name, raw, `tag "${key}" must have a string value`);
    if (!TAG_KEY.test(key) || key.toLowerCase().startsWith('aws:')) {
      throw new ConfigError(name, raw, `tag key "${key}" is not a valid AWS tag key`);
    }
    if (!TAG_VALUE.test(value)) throw new ConfigError(name, raw, `tag "${key}" has an invalid value`);
    result[key] = value;
  }
  return result;
}

export function logRetention(raw: unknown, name: string): number {
  const value = integer(1, 3653)(raw, name);
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(value)) {
    throw new ConfigError(
      name,
      raw,
      `must be one of CloudWatch Logs' retention values: ${LOG_RETENTION_DAYS.join(', ')}`,
    );
  }
  return value;
}

export const upper = (s: string) => s.toUpperCase();

const SCHEDULE_FORMS =
  '"rate(N minute|minutes|hour|hours|day|days)", "cron(minutes hours day-of-month month day-of-week year)" or "off"';

/**
 * An EventBridge schedule expression, or `false` for `off` (also `false`, as the boolean settings take it).
 * `@alleycat/schema` checks the form AWS documents, so a typo fails at synth time rather than at
 * `terraform apply`; white space around the setting is trimmed (as for every setting), none inside is added.
 */
export function scheduleExpression(raw: unknown, name: string): string | false {
  if (raw === false) return false;
  const value = text(raw, name);
  if (['off', 'false'].includes(value.toLowerCase())) return false;
  const result = parseScheduleExpression(value);
  if (result.ok) return value;
  // Neither form: list the forms this setting takes, which include "off".
  throw new ConfigError(
    name,
    raw,
    result.error.code === 'not_schedule' ? `must be ${SCHEDULE_FORMS}` : result.error.message,
  );
}
