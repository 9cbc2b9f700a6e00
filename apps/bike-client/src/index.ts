/** @alleycat/bike-client as a library: the bike, the Kinesis producer, the simulator and their parts. */
export {
  AggregatingProducer,
  type AggregatingProducerOptions,
  type ShardRange,
  type UnsentUserRecord,
  unsentUserRecords,
} from './aggregating-producer.js';
export {
  Bike,
  type BikeEndpoint,
  type BikeOptions,
  type BikeStats,
  type DropReason,
  describeCrtError,
  localEndpointFromUrl,
} from './bike.js';
export { classifyRequestError } from './classify.js';
export * from './constants.js';
export * from './errors.js';
export {
  createKinesisClient,
  effectiveKinesisEndpoint,
  isLocalEndpoint,
  type KinesisClientOptions,
} from './kinesis-client.js';
export {
  KinesisProducer,
  type KinesisProducerOptions,
  type ProducerRecord,
  type ProducerStats,
  type UnsentRecord,
} from './kinesis-producer.js';
export { describeStream, ensureStream, listShardRanges, type StreamInfo } from './kinesis-stream.js';
export { Prng, seedFrom } from './prng.js';
export {
  createField,
  createRacer,
  encodeChecked,
  type FieldOptions,
  nextMessage,
  type Racer,
} from './race.js';
export { RaceClock, type RaceClockOptions } from './race-clock.js';
export { createRiderProfile, RiderModel, type RiderProfile, type RiderSample } from './rider-model.js';
export { Simulation, type SimulationOptions, type SimulationSummary } from './simulator.js';
export {
  KinesisSink,
  type KinesisSinkOptions,
  MqttSink,
  type MqttSinkOptions,
  type Sink,
  type SinkCounters,
  type UndeliveredMessage,
} from './sinks.js';
export { type OwnStanding, StandingsTracker } from './standings.js';
