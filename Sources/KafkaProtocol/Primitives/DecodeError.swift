/// Why bytes from the network or the disk could not be read as a Kafka value.
public enum DecodeError: Error, Sendable, Equatable {
  case truncated
  case invalidVarint
  case invalidLength(Int)
  case nullNotAllowed(String)
  case unsupportedVersion(apiKey: Int16, version: Int16)
  case unknownApiKey(Int16)
  case invalid(String)
}
