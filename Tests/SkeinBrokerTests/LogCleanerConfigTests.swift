import SkeinStorage
import Testing

@testable import SkeinBroker

@Suite("log.cleaner.* broker keys")
struct LogCleanerConfigTests {
  @Test("Kafka's defaults")
  func defaults() {
    let cleaner = BrokerConfig().logCleanerConfig
    #expect(cleaner == LogCleanerConfig())
    #expect(cleaner.enable && cleaner.threads == 1 && cleaner.backoffMs == 15_000)
    #expect(cleaner.dedupeBufferSize == 134_217_728)
    #expect(BrokerConfig().topicDefaults.isEmpty)
  }

  @Test("explicit values, and the keys that are topic defaults")
  func explicit() throws {
    let config = BrokerConfig([
      "log.cleaner.enable": "false", "log.cleaner.threads": "3",
      "log.cleaner.io.max.bytes.per.second": "1048576", "log.cleaner.backoff.ms": "250",
      "log.cleaner.dedupe.buffer.size": "1000000", "log.cleaner.min.cleanable.ratio": "0.1",
      "log.cleaner.delete.retention.ms": "1000", "log.cleaner.min.compaction.lag.ms": "5",
      "log.cleaner.max.compaction.lag.ms": "60000",
    ])
    let cleaner = config.logCleanerConfig
    #expect(!cleaner.enable && cleaner.threads == 3 && cleaner.backoffMs == 250)
    #expect(cleaner.ioMaxBytesPerSecond == 1_048_576 && cleaner.dedupeBufferSize == 1_000_000)
    let topic = try LogConfig(config.topicDefaults)
    #expect(topic.minCleanableDirtyRatio == 0.1 && topic.deleteRetentionMs == 1000)
    #expect(topic.minCompactionLagMs == 5 && topic.maxCompactionLagMs == 60_000)
    #expect(
      BrokerConfig.topicKey(forBrokerKey: "log.cleaner.min.cleanable.ratio")
        == "min.cleanable.dirty.ratio")
  }
}
