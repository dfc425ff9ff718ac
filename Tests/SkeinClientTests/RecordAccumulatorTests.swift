import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinClient

@Suite struct RecordAccumulatorTests {
  let p0 = TopicPartition("t", 0)
  let p1 = TopicPartition("t", 1)
  let start = ContinuousClock.now

  private func append(
    _ accumulator: inout RecordAccumulator<Int>, _ partition: TopicPartition, _ id: Int,
    value: String = "value", at offset: Duration = .zero
  ) -> RecordAccumulator<Int>.AppendResult {
    accumulator.append(
      to: partition, key: ByteBuffer(string: "k\(id)"), value: ByteBuffer(string: value),
      headers: [], timestamp: 1_000 + Int64(id), delivery: id, now: start + offset)
  }

  private func decode(_ batch: RecordAccumulator<Int>.ReadyBatch) throws -> [String] {
    let parsed = try RecordBatch(batch.records)
    try parsed.verifyChecksum()
    var iterator = try parsed.records()
    var keys: [String] = []
    while let record = try iterator.next() {
      keys.append(record.key.map { String(buffer: $0) } ?? "")
    }
    #expect(parsed.header.recordCount == Int32(keys.count))
    return keys
  }

  @Test func recordsWaitForLingerThenLeaveAsOneBatch() throws {
    var accumulator = RecordAccumulator<Int>(batchSize: 16384, linger: .milliseconds(10))
    let first = append(&accumulator, p0, 0)
    #expect(first == .init(readyNow: false, newBatchDeadline: start + .milliseconds(10)))
    for id in 1..<5 {
      let result = append(&accumulator, p0, id, at: .milliseconds(id))
      #expect(result == .init(readyNow: false, newBatchDeadline: nil))
    }
    #expect(accumulator.nextDeadline() == start + .milliseconds(10))
    #expect(accumulator.drain(now: start + .milliseconds(9), flushing: false).isEmpty)
    let ready = accumulator.drain(now: start + .milliseconds(10), flushing: false)
    #expect(ready.count == 1)
    #expect(ready.first?.deliveries == [0, 1, 2, 3, 4])
    #expect(ready.first?.partition == p0)
    #expect(try decode(try #require(ready.first)) == ["k0", "k1", "k2", "k3", "k4"])
  }

  @Test func fullBatchIsReadyBeforeLinger() throws {
    var accumulator = RecordAccumulator<Int>(batchSize: 200, linger: .seconds(60))
    var results: [RecordAccumulator<Int>.AppendResult] = []
    let value = String(repeating: "v", count: 40)
    for id in 0..<6 { results.append(append(&accumulator, p0, id, value: value)) }
    // Each record takes ~50 bytes; with the 61-byte header a batch holds 2 or 3 of them.
    let readyIndex = try #require(results.firstIndex { $0.readyNow })
    #expect(readyIndex >= 1 && readyIndex <= 3)
    let ready = accumulator.drain(now: start, flushing: false)
    #expect(ready.count == 1)
    let batch = try #require(ready.first)
    #expect(batch.sizeInBytes <= 200)
    #expect(batch.deliveries == Array(0..<batch.deliveries.count))
    // The rest stays until the in-flight batch completes.
    #expect(accumulator.drain(now: start, flushing: true).isEmpty)
    accumulator.complete(batch)
    var delivered = batch.deliveries
    while true {
      let next = accumulator.drain(now: start, flushing: true)
      guard let batch = next.first else { break }
      #expect(next.count == 1)
      #expect(batch.sizeInBytes <= 200)
      delivered += batch.deliveries
      accumulator.complete(batch)
    }
    #expect(delivered == Array(0..<6))
    #expect(accumulator.isEmpty)
    #expect(accumulator.bufferedBytes == 0)
  }

  @Test func oversizedRecordGetsABatchOfItsOwn() throws {
    var accumulator = RecordAccumulator<Int>(batchSize: 100, linger: .seconds(60))
    _ = append(&accumulator, p0, 0)
    let big = append(&accumulator, p0, 1, value: String(repeating: "x", count: 500))
    #expect(big.readyNow)
    let first = accumulator.drain(now: start, flushing: false)
    #expect(first.map(\.deliveries) == [[0]])
    accumulator.complete(try #require(first.first))
    let second = accumulator.drain(now: start, flushing: false)
    #expect(second.map(\.deliveries) == [[1]])
    #expect(try #require(second.first).sizeInBytes > 500)
  }

  @Test func onlyOneBatchPerPartitionIsInFlight() throws {
    var accumulator = RecordAccumulator<Int>(batchSize: 16384, linger: .zero)
    _ = append(&accumulator, p0, 0)
    _ = append(&accumulator, p1, 1)
    let ready = accumulator.drain(now: start, flushing: false)
    #expect(ready.map(\.partition) == [p0, p1])
    _ = append(&accumulator, p0, 2)
    _ = append(&accumulator, p0, 3)
    // p0 is in flight: its new records wait, gathering into one batch.
    #expect(accumulator.drain(now: start + .seconds(1), flushing: true).isEmpty)
    #expect(accumulator.nextDeadline() == nil)
    accumulator.complete(ready[0])
    let next = accumulator.drain(now: start + .seconds(1), flushing: false)
    #expect(next.map(\.deliveries) == [[2, 3]])
    #expect(!accumulator.isEmpty)
    accumulator.complete(ready[1])
    accumulator.complete(next[0])
    #expect(accumulator.isEmpty)
    #expect(accumulator.partitions.isEmpty)
  }

  @Test func flushTakesOpenBatchesEarly() {
    var accumulator = RecordAccumulator<Int>(batchSize: 16384, linger: .seconds(60))
    _ = append(&accumulator, p0, 0)
    _ = append(&accumulator, p1, 1, at: .seconds(1))
    #expect(accumulator.nextDeadline() == start + .seconds(60))
    #expect(accumulator.drain(now: start, flushing: false).isEmpty)
    #expect(accumulator.drain(now: start, flushing: true).map(\.deliveries) == [[0], [1]])
  }

  @Test func bufferedBytesCountEveryHeldBatch() throws {
    var accumulator = RecordAccumulator<Int>(batchSize: 16384, linger: .seconds(60))
    _ = append(&accumulator, p0, 0)
    _ = append(&accumulator, p0, 1)
    _ = append(&accumulator, p1, 2)
    #expect(accumulator.pendingRecords == 3)
    let ready = accumulator.drain(now: start, flushing: true)
    #expect(accumulator.bufferedBytes == ready.map(\.sizeInBytes).reduce(0, +))
    for batch in ready { accumulator.complete(batch) }
    #expect(accumulator.bufferedBytes == 0)
    #expect(accumulator.pendingRecords == 0)
  }

  @Test func estimateBoundsTheEncodedSize() throws {
    var accumulator = RecordAccumulator<Int>(batchSize: 1 << 20, linger: .zero)
    let key = ByteBuffer(string: "key")
    let value = ByteBuffer(repeating: 7, count: 300)
    let headers = [
      RecordHeader(key: "h", value: ByteBuffer(string: "v")), RecordHeader(key: "n", value: nil),
    ]
    _ = accumulator.append(
      to: p0, key: key, value: value, headers: headers, timestamp: 5, delivery: 0, now: start)
    let batch = try #require(accumulator.drain(now: start, flushing: false).first)
    let estimate = RecordAccumulator<Int>.estimatedSize(key: key, value: value, headers: headers)
    #expect(batch.sizeInBytes - RecordBatchHeader.size <= estimate)
    let parsed = try RecordBatch(batch.records)
    var iterator = try parsed.records()
    let record = try #require(try iterator.next())
    #expect(record.headers == headers)
    #expect(parsed.header.baseTimestamp == 5)
  }
}
