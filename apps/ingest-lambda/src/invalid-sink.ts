/**
 * Where rejected payloads go so a person can inspect them: the errors bucket under `invalid/` on AWS
 * (payloads reach 1 MiB, too big for SQS), a folder standing for the bucket locally. Keys come from the
 * schema's `invalidRecordKey`, so both hold the same layout.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { InvalidRecordReport } from '@alleycat/schema';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isRetryable } from './classify.js';
import { DependencyError } from './errors.js';
import type { InvalidRecordSink } from './types.js';

export class S3InvalidRecordSink implements InvalidRecordSink {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async write(key: string, report: InvalidRecordReport): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: JSON.stringify(report),
          ContentType: 'application/json',
        }),
      );
    } catch (error) {
      throw new DependencyError(`S3 PutObject ${key}`, error, isRetryable(error));
    }
  }
}

export class DirectoryInvalidRecordSink implements InvalidRecordSink {
  constructor(private readonly directory: string) {}

  async write(key: string, report: InvalidRecordReport): Promise<void> {
    const path = join(this.directory, key);
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
    } catch (error) {
      // A full or read-only disk will not fix itself between retries; a missing folder race might.
      const code = (error as NodeJS.ErrnoException).code;
      throw new DependencyError(
        `write ${path}`,
        error,
        code === 'EMFILE' || code === 'EAGAIN' || code === 'EBUSY',
      );
    }
  }
}

export class MemoryInvalidRecordSink implements InvalidRecordSink {
  readonly reports = new Map<string, InvalidRecordReport>();
  async write(key: string, report: InvalidRecordReport): Promise<void> {
    this.reports.set(key, report);
  }
}
