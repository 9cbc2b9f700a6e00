/** @alleycat/bike-client as a library: the bike, the Kinesis producer, the simulator and their parts. */
export {
  AggregatingProducer,
  type AggregatingProducerOptions,
  unsentUserRecords,
} from './aggregating-producer.js';
export {
  Bike,
  type BikeOptions,
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
} from './kinesis-producer.js';
export { describeStream, ensureStream, listShardRanges } from './kinesis-stream.js';
export {
  createField,
  createRacer,
  encodeChecked,
  type FieldOptions,
  nextMessage,
  type Racer,
} from './race.js';
export { RaceClock, type RaceClockOptions } from './race-clock.js';
export { createRiderProfile, RiderModel } from './rider-model.js';
export { Simulation, type SimulationOptions } from './simulator.js';
export {
  KinesisSink,
  type KinesisSinkOptions,
  MqttSink,
  type MqttSinkOptions,
} from './sinks.js';
export { StandingsTracker } from './standings.js';
export type * from './types.js';
