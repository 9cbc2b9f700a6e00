/**
 * Errors of the local stack. Every error extends `LocalStackError`, sets `name`, and says whether retrying the
 * same call can succeed (`retryable`), as AWS SDK v3 errors do.
 */
export class LocalStackError extends Error {
  readonly retryable: boolean;
  constructor(message: string, options?: ErrorOptions & { retryable?: boolean }) {
    super(message, options);
    this.name = 'LocalStackError';
    this.retryable = options?.retryable ?? false;
  }
}

/** A configuration value (a rule's SQL, a template, a stack file) is outside what the local stack supports. */
export class ConfigurationError extends LocalStackError {
  readonly where: string;
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'ConfigurationError';
    this.where = where;
  }
}

/** An IoT rule's SQL could not be parsed; `position` is the 0-based character offset of the problem. */
export class RuleSqlSyntaxError extends LocalStackError {
  readonly sql: string;
  readonly position: number;
  constructor(sql: string, position: number, message: string) {
    super(`rule SQL at ${position}: ${message} in ${JSON.stringify(sql)}`);
    this.name = 'RuleSqlSyntaxError';
    this.sql = sql;
    this.position = position;
  }
}

/** A rule's SQL could not be evaluated against a message (e.g. fields selected from a non-JSON payload). */
export class RuleEvaluationError extends LocalStackError {
  constructor(message: string) {
    super(message);
    this.name = 'RuleEvaluationError';
  }
}

/** A port the stack wants is taken by another process. */
export class PortInUseError extends LocalStackError {
  readonly port: number;
  readonly part: string;
  constructor(part: string, port: number) {
    super(
      `${part}: port ${port} on 127.0.0.1 is already in use (stop what holds it, or choose another port)`,
    );
    this.name = 'PortInUseError';
    this.port = port;
    this.part = part;
  }
}

/** The handler of the event source mapping threw, returned an invalid response, or timed out. */
export class HandlerInvocationError extends LocalStackError {
  readonly kind: 'threw' | 'timeout' | 'invalid_response';
  constructor(kind: HandlerInvocationError['kind'], message: string, options?: ErrorOptions) {
    super(message, { ...options, retryable: true });
    this.name = 'HandlerInvocationError';
    this.kind = kind;
  }
}
