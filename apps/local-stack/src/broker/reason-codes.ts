/** MQTT 5 reason codes the broker sends (MQTT 5.0 § 2.4; the subset IoT Core documents, plus spec-required ones). */
export const ReasonCode = {
  Success: 0x00,
  GrantedQos1: 0x01,
  DisconnectWithWill: 0x04,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  QuotaExceeded: 0x97,
  QosNotSupported: 0x9b,
  SharedSubscriptionsNotSupported: 0x9e,
  SubscriptionIdentifiersNotSupported: 0xa1,
} as const;

/** MQTT 3.1.1 CONNACK return code → MQTT 5 CONNACK reason code (MQTT 5.0 § 3.2.2.2). */
export function connackReasonCode(returnCode: number): number {
  switch (returnCode) {
    case 0:
      return ReasonCode.Success;
    case 1:
      return ReasonCode.UnsupportedProtocolVersion;
    case 2:
      return ReasonCode.ClientIdentifierNotValid;
    case 3:
      return ReasonCode.ServerUnavailable;
    case 4:
      return ReasonCode.BadUserNameOrPassword;
    case 5:
      return ReasonCode.NotAuthorized;
    default:
      return ReasonCode.UnspecifiedError;
  }
}

/** MQTT 3.1.1 SUBACK return code (0, 1, 2 or 0x80) → MQTT 5 SUBACK reason code. */
export function subackReasonCode(returnCode: number): number {
  return returnCode <= 2 ? returnCode : ReasonCode.UnspecifiedError;
}
