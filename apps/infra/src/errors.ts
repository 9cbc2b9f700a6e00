/**
 * Errors of the infra app. Like the AWS SDK v3's modeled errors, each says whether retrying could help:
 * none of these can (they are configuration or build problems), so `retryable` is false throughout.
 */
export class AlleycatInfraError extends Error {
  readonly retryable: boolean = false;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AlleycatInfraError';
  }
}

/** A configuration value is invalid. `setting` names it as the user set it (env var or context key). */
export class ConfigError extends AlleycatInfraError {
  readonly setting: string;
  readonly value: unknown;
  constructor(setting: string, value: unknown, message: string) {
    super(`${setting}: ${message}${value === undefined ? '' : ` (got ${JSON.stringify(value)})`}`);
    this.name = 'ConfigError';
    this.setting = setting;
    this.value = value;
  }
}

/** The ingest Lambda's bundle is not built: the stack never deploys placeholder code. */
export class MissingLambdaBundleError extends AlleycatInfraError {
  readonly bundleFile: string;
  constructor(bundleFile: string) {
    super(
      `the ingest Lambda bundle ${bundleFile} does not exist. Build it first: ` +
        '`pnpm --filter "@alleycat/ingest-lambda..." build` (or `pnpm synth` from the repository root, which builds it)',
    );
    this.name = 'MissingLambdaBundleError';
    this.bundleFile = bundleFile;
  }
}
