/** Leaderboards to bikes through the IoT data plane (`POST /topics/{topic}`; locally the stack's endpoint). */

import type { LeaderboardMessage } from '@alleycat/schema';
import { encodeLeaderboardBytes } from '@alleycat/schema';
import { type IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { isRetryable } from './classify.js';
import { DependencyError } from './errors.js';
import type { LeaderboardPublisher } from './types.js';

export class IotLeaderboardPublisher implements LeaderboardPublisher {
  constructor(private readonly client: IoTDataPlaneClient) {}

  async publish(topic: string, message: LeaderboardMessage): Promise<void> {
    try {
      await this.client.send(
        new PublishCommand({
          topic,
          // QoS 0: a lost board is replaced by the next one within a second; QoS 1 would only add load.
          qos: 0,
          // The UTF-8 JSON written directly (no string in between), byte-equal to JSON.stringify's.
          payload: encodeLeaderboardBytes(message),
          contentType: 'application/json',
        }),
      );
    } catch (error) {
      throw new DependencyError(`IoT Publish ${topic}`, error, isRetryable(error));
    }
  }
}

/** Records what would be published (benchmark and tests of the orchestration). */
export class MemoryPublisher implements LeaderboardPublisher {
  readonly published: Array<{ topic: string; message: LeaderboardMessage }> = [];
  async publish(topic: string, message: LeaderboardMessage): Promise<void> {
    this.published.push({ topic, message });
  }
}
