import SkeinStorage

extension BrokerConfig {
  /// The `log.cleaner.*` keys as the LogManager's cleaner takes them.
  public var logCleanerConfig: LogCleanerConfig {
    var cleaner = LogCleanerConfig()
    cleaner.enable = bool("log.cleaner.enable")
    cleaner.threads = max(int("log.cleaner.threads") ?? 1, 1)
    if let text = string("log.cleaner.io.max.bytes.per.second"), let rate = Double(text), rate > 0 {
      cleaner.ioMaxBytesPerSecond = rate
    }
    cleaner.backoffMs = Int64(max(int("log.cleaner.backoff.ms") ?? 15_000, 1))
    cleaner.dedupeBufferSize = max(int("log.cleaner.dedupe.buffer.size") ?? 134_217_728, 1 << 16)
    return cleaner
  }
}
