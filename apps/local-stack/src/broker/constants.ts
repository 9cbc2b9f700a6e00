/**
 * What the local broker tells MQTT 5 clients about itself, set to what AWS IoT Core documents
 * (developer guide, "MQTT 5 supported features", "MQTT 5 properties", "MQTT reason codes"; General Reference,
 * "AWS IoT Core message broker and protocol limits and quotas").
 */
import { IOT_MESSAGE_MAX_BYTES } from '@alleycat/schema';

/** "AWS IoT Core has a default limit of 8 topic aliases" (client → server; IoT Core's CONNACK carries 8). */
export const TOPIC_ALIAS_MAXIMUM = 8;
/** Inbound unacknowledged QoS 1 publishes IoT Core allows per client ("maximum inflight unacknowledged messages"). */
export const RECEIVE_MAXIMUM = 100;
/** "Maximum QoS … Default is 1. AWS IoT Core doesn't support QoS 2." */
export const MAXIMUM_QOS = 1;
/** "The maximum packet size that AWS IoT Core accepts and sends. Cannot exceed 128 KB." */
export const MAXIMUM_PACKET_SIZE = IOT_MESSAGE_MAX_BYTES;
/** "Session Expiry Interval … a maximum of 7 days, with a default maximum of one hour" (the account default). */
export const MAX_SESSION_EXPIRY_SECONDS = 3600;
/**
 * Keep-alive bounds: "IoT Core will treat any value less than 30 as 30" (General Reference, message broker
 * quotas), and 1,200 s is its maximum and the value it uses when a client asks for none (0). Applied to 3.1.1
 * and MQTT 5 connections alike; an MQTT 5 client is told the value in CONNACK (Server Keep Alive).
 */
export const KEEPALIVE_MIN_SECONDS = 30;
export const KEEPALIVE_MAX_SECONDS = 1200;

/**
 * Client ids of the local IoT data plane's connections start so: the broker publishes no lifecycle events for
 * them (an HTTP Publish has no MQTT connection on AWS).
 */
export const IOT_DATA_PLANE_CLIENT_ID = 'iot-data-plane';
/** MQTT 5 protocol level in CONNECT. */
export const MQTT5_PROTOCOL_LEVEL = 5;
/**
 * Packets of one MQTT 5 connection waiting for the rules engine before the socket is paused: the rule path is
 * as concurrent as aedes makes it for MQTT 3.1.1 (a whole read chunk at once), but bounded.
 */
export const MAX_QUEUED_PACKETS = 256;
/** Bytes read while looking for the CONNECT's protocol level before giving up and handing over to aedes. */
export const SNIFF_MAX_BYTES = 16;
