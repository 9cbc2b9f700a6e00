/** Every leaderboard the stack publishes, as a bike sees them (`alleycat-subscribe/+`), assembled per race. */
import { parseLeaderboardMessage, RESULTS_TOPIC_FILTER } from '@alleycat/schema';
import mqtt from 'mqtt';
import { RaceBoards } from '../../src/race/race-boards.js';

export interface BoardWatch {
  boards: RaceBoards;
  /** Board messages that did not parse as leaderboards (must stay 0). */
  unreadable: number;
  /** raceId → racerId → total, as the latest boards show them. */
  totals(): Map<number, Map<number, number>>;
  close(): Promise<void>;
}

export async function watchBoards(url: string, clientId: string): Promise<BoardWatch> {
  const boards = new RaceBoards();
  const client = await mqtt.connectAsync(url, { clientId, protocolVersion: 4, reconnectPeriod: 250 });
  const watch: BoardWatch = {
    boards,
    unreadable: 0,
    totals() {
      const totals = new Map<number, Map<number, number>>();
      for (const race of boards.all()) {
        totals.set(race.raceId, new Map([...race.standings].map(([racerId, s]) => [racerId, s[2]])));
      }
      return totals;
    },
    close: () => client.endAsync(true),
  };
  client.on('message', (_topic, payload) => {
    const parsed = parseLeaderboardMessage(payload);
    if (parsed.ok) boards.receive(parsed.leaderboard, Date.now());
    else watch.unreadable += 1;
  });
  await client.subscribeAsync(RESULTS_TOPIC_FILTER, { qos: 1 });
  return watch;
}
