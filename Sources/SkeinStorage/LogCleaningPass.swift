import KafkaProtocol
import NIOCore

/// The part of a compacted log the cleaner may work on (Kafka's cleanable offsets): inactive
/// segments wholly below the high watermark, whose dirty part is also older than
/// `min.compaction.lag.ms`. Offsets from `firstDirtyOffset` (the cleaner checkpoint) have not
/// been cleaned yet.
struct CleanableRange {
  /// Every segment below `firstUncleanableOffset`, oldest first.
  var segments: [CleanerView.Segment]
  var firstDirtyOffset: Int64
  var firstUncleanableOffset: Int64
  /// Bytes of segments wholly below the first dirty offset.
  var cleanBytes: Int64
  /// Bytes of segments holding offsets in [firstDirtyOffset, firstUncleanableOffset).
  var dirtyBytes: Int64
  /// The largest timestamp of the first dirty segment, for `max.compaction.lag.ms`.
  var firstDirtyTimestamp: Int64?

  var dirtyRatio: Double {
    let total = cleanBytes + dirtyBytes
    return total > 0 ? Double(dirtyBytes) / Double(total) : 0
  }

  init(_ view: CleanerView, checkpoint: Int64?, nowMs: Int64) {
    var firstDirty = max(checkpoint ?? view.logStartOffset, view.logStartOffset)
    if firstDirty > view.activeBaseOffset { firstDirty = view.logStartOffset }
    let lag = view.config.minCompactionLagMs
    var taken: [CleanerView.Segment] = []
    var clean: Int64 = 0
    var dirty: Int64 = 0
    var firstDirtyTimestamp: Int64?
    for segment in view.segments {
      guard segment.upperBound <= view.highWatermark else { break }
      if segment.upperBound > firstDirty {
        if lag > 0 && nowMs - segment.largestTimestamp < lag { break }
        dirty += Int64(segment.size)
        if firstDirtyTimestamp == nil { firstDirtyTimestamp = segment.largestTimestamp }
      } else {
        clean += Int64(segment.size)
      }
      taken.append(segment)
    }
    self.segments = taken
    self.firstDirtyOffset = firstDirty
    self.firstUncleanableOffset = max(taken.last?.upperBound ?? firstDirty, firstDirty)
    self.cleanBytes = clean
    self.dirtyBytes = dirty
    self.firstDirtyTimestamp = firstDirtyTimestamp
  }
}

extension CleanerView {
  /// The earliest delete horizon stamped on a batch of the inactive segments, from their batch
  /// headers: after a restart, when the log must be cleaned again for its tombstones.
  func earliestDeleteHorizon() throws(StorageError) -> Int64? {
    var earliest: Int64?
    for segment in segments {
      var scanner = BatchScanner(file: segment.segment.log, limit: segment.size)
      var position = 0
      while let header = try scanner.header(at: position) {
        if let horizon = header.deleteHorizonMs { earliest = min(earliest ?? .max, horizon) }
        position += header.totalSize
      }
    }
    return earliest
  }
}

/// One cleaning of one log (Kafka's Cleaner): maps the latest offset of every key in the dirty
/// range, then rewrites the segments below the mapped range's end in groups of at most
/// `segment.bytes`, keeping each key's latest record, and swaps each group in as one segment.
struct LogCleaningPass {
  struct Result: Sendable, Equatable {
    /// Where the next cleaning's dirty range starts (the checkpoint to record).
    var cleanedUpTo: Int64
    var bytesRead = 0
    var bytesWritten = 0
    var recordsRemoved = 0
    var segmentsReplaced = 0
    /// The earliest delete horizon of a tombstone still kept: the log needs cleaning then.
    var earliestDeleteHorizon: Int64?
  }

  let log: PartitionLog
  let view: CleanerView
  let range: CleanableRange
  let nowMs: Int64
  /// The last offset of each active producer's last batch: those batches stay, even empty.
  let producerLastOffsets: [Int64: Int64]
  let mapBudgetBytes: Int
  var throttler: Throttler
  let isCancelled: @Sendable () -> Bool
  var crashAfter: SegmentSwapStep?

  /// Cleans; nil when the log changed meanwhile or the pass was cancelled.
  mutating func run() throws -> Result? {
    guard range.firstDirtyOffset < range.firstUncleanableOffset else {
      return Result(cleanedUpTo: range.firstDirtyOffset)
    }
    var result = Result(cleanedUpTo: range.firstDirtyOffset)
    guard let (map, endOffset) = try buildOffsetMap(&result) else { return nil }
    result.cleanedUpTo = endOffset
    for group in groups(below: endOffset) {
      guard try clean(group, map: map, endOffset: endOffset, result: &result) else { return nil }
    }
    return result
  }

  /// Reads every batch of `segment` (at most `size` bytes), in order.
  private func forEachBatch(
    in segment: CleanerView.Segment, _ body: (RecordBatch) throws -> Bool
  ) throws -> Bool {
    var scanner = BatchScanner(file: segment.segment.log, limit: segment.size)
    var position = 0
    while let header = try scanner.header(at: position) {
      let bytes = try segment.segment.log.readBytes(at: position, length: header.totalSize)
      guard try body(RecordBatch(header: header, bytes: bytes)) else { return false }
      position += header.totalSize
    }
    return true
  }

  /// The map of the dirty range from its start up to a batch boundary where the budget ran out
  /// (or the first uncleanable offset), and that boundary.
  private mutating func buildOffsetMap(_ result: inout Result) throws -> (OffsetMap, Int64)? {
    var map = OffsetMap(budgetBytes: mapBudgetBytes)
    var endOffset = range.firstDirtyOffset
    var full = false
    for segment in range.segments where segment.upperBound > range.firstDirtyOffset {
      if isCancelled() { return nil }
      var throttler = self.throttler
      let firstDirty = range.firstDirtyOffset
      let finished = try forEachBatch(in: segment) { batch in
        throttler.record(batch.header.totalSize)
        result.bytesRead += batch.header.totalSize
        if batch.header.lastOffset < firstDirty { return true }
        if !batch.header.attributes.isControl {
          var records = try batch.decompressedRecords()
          while let record = try records.next() {
            if let key = record.key { map.put(key, offset: batch.offset(of: record)) }
          }
        }
        endOffset = batch.header.nextOffset
        return !map.isFull
      }
      self.throttler = throttler
      if !finished {
        full = true
        break
      }
      endOffset = segment.upperBound
    }
    if !full { endOffset = range.firstUncleanableOffset }
    return (map, endOffset)
  }

  /// Consecutive segments below `endOffset` whose sizes add up to at most `segment.bytes` and
  /// whose offsets fit one segment.
  private func groups(below endOffset: Int64) -> [[CleanerView.Segment]] {
    var groups: [[CleanerView.Segment]] = []
    var current: [CleanerView.Segment] = []
    var bytes = 0
    for segment in range.segments where segment.baseOffset < endOffset {
      if let first = current.first,
        bytes + segment.size > view.config.segmentBytes
          || segment.upperBound - 1 - first.baseOffset > Int64(Int32.max)
      {
        groups.append(current)
        current = []
        bytes = 0
      }
      current.append(segment)
      bytes += segment.size
    }
    if !current.isEmpty { groups.append(current) }
    return groups
  }

  /// Writes the cleaned form of `group` to `<base>.log.cleaned` (and its indexes) and swaps it
  /// in.
  private mutating func clean(
    _ group: [CleanerView.Segment], map: OffsetMap, endOffset: Int64, result: inout Result
  ) throws -> Bool {
    guard let first = group.first else { return true }
    let dir = log.dir
    let base = first.baseOffset
    var output = try CleanedSegmentWriter(dir: dir, baseOffset: base, config: view.config)
    var throttler = self.throttler
    do {
      for segment in group {
        if isCancelled() {
          CleanedSegmentWriter.remove(dir: dir, baseOffset: base)
          return false
        }
        _ = try forEachBatch(in: segment) { batch in
          result.bytesRead += batch.header.totalSize
          guard
            let bytes = try retained(
              batch, map: map, endOffset: endOffset, pending: &result.earliestDeleteHorizon,
              removed: &result.recordsRemoved)
          else { return true }
          try output.append(bytes)
          result.bytesWritten += bytes.readableBytes
          throttler.record(batch.header.totalSize + bytes.readableBytes)
          return true
        }
      }
      try output.finish(
        modifiedMs: group.compactMap { try? $0.segment.log.modificationTimeMs() }.max())
    } catch {
      CleanedSegmentWriter.remove(dir: dir, baseOffset: base)
      throw error
    }
    self.throttler = throttler
    guard
      try log.replaceSegments(
        group.map(\.segment), withCleaned: output.logPath, crashAfter: crashAfter)
    else { return false }
    result.segmentsReplaced += group.count
    return true
  }

  /// What stays of `batch`: its own bytes when nothing changes, a rewritten batch, or nil.
  /// Keeps each key's latest record (by the map), drops keyless records, and drops tombstones
  /// whose batch's delete horizon has passed; a batch that keeps tombstones gets a delete
  /// horizon of now + `delete.retention.ms` the first time it is cleaned (KIP-534). Control
  /// batches, and batches at or past the mapped range's end, stay as they are.
  private func retained(
    _ batch: RecordBatch, map: OffsetMap, endOffset: Int64, pending: inout Int64?,
    removed: inout Int
  ) throws -> ByteBuffer? {
    let header = batch.header
    if header.attributes.isControl || header.lastOffset >= endOffset {
      if let horizon = header.deleteHorizonMs { pending = min(pending ?? .max, horizon) }
      return batch.bytes
    }
    let horizon = header.deleteHorizonMs
    var kept: [Record] = []
    var keptTombstone = false
    var droppedAny = false
    var records = try batch.decompressedRecords()
    while let record = try records.next() {
      guard let key = record.key else {
        droppedAny = true
        continue
      }
      if let latest = map.get(key), latest > batch.offset(of: record) {
        droppedAny = true
        continue
      }
      if record.value == nil {
        if let horizon, nowMs >= horizon {
          droppedAny = true
          continue
        }
        keptTombstone = true
      }
      kept.append(record)
    }
    removed += Int(header.recordCount) - kept.count
    // A batch keeps (or gets) a horizon while it holds tombstones, and loses it after.
    let newHorizon = keptTombstone ? horizon ?? nowMs &+ view.config.deleteRetentionMs : nil
    if keptTombstone, let newHorizon { pending = min(pending ?? .max, newHorizon) }
    if kept.isEmpty {
      guard header.producerId >= 0, producerLastOffsets[header.producerId] == header.lastOffset
      else { return nil }
    }
    if !droppedAny && newHorizon == horizon { return batch.bytes }
    return try RecordBatchRewriter.rewrite(header, keeping: kept, deleteHorizonMs: newHorizon)
  }
}
