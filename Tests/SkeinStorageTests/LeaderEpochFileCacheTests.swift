import Foundation
import Testing

@testable import SkeinStorage

private func contents(_ path: String) throws -> String {
  try String(contentsOfFile: path, encoding: .utf8)
}

private func entries(_ cache: LeaderEpochFileCache) -> [[Int64]] {
  cache.epochEntries.map { [Int64($0.epoch), $0.startOffset] }
}

@Suite struct LeaderEpochFileCacheTests {
  @Test func fileIsKafkasCheckpointFormat() throws {
    let dir = TemporaryDirectory()
    let cache = LeaderEpochFileCache(directory: dir.path)
    try cache.assign(epoch: 0, startOffset: 0)
    try cache.assign(epoch: 1, startOffset: 150)
    try cache.assign(epoch: 4, startOffset: 300)
    let path = dir.file(LeaderEpochFileCache.fileName)
    #expect(try contents(path) == "0\n3\n0 0\n1 150\n4 300\n")
    let read = try #require(try LeaderEpochFileCache.readFile(directory: dir.path))
    #expect(read.map { [Int64($0.epoch), $0.startOffset] } == [[0, 0], [1, 150], [4, 300]])
    try cache.clear()
    #expect(try contents(path) == "0\n0\n")
    #expect(try LeaderEpochFileCache.readFile(directory: dir.path)?.isEmpty == true)

    // A file as a Kafka broker writes it.
    try "0\n2\n0 0\n5 1024\n".write(toFile: path, atomically: true, encoding: .utf8)
    let kafka = try #require(try LeaderEpochFileCache.readFile(directory: dir.path))
    #expect(kafka.map { [Int64($0.epoch), $0.startOffset] } == [[0, 0], [5, 1024]])
    #expect(
      entries(LeaderEpochFileCache(directory: dir.path, entries: kafka)) == [[0, 0], [5, 1024]])
  }

  @Test func missingFileReadsAsNilAndBadFilesThrow() throws {
    let dir = TemporaryDirectory()
    #expect(try LeaderEpochFileCache.readFile(directory: dir.path) == nil)
    let path = dir.file(LeaderEpochFileCache.fileName)
    for text in [
      "0\n3\n0 0\n1 10\n",  // torn: fewer entries than counted
      "1\n1\n0 0\n",  // unknown version
      "0\n1\n0\n",  // missing field
      "0\n2\n3 0\n2 10\n",  // epochs not increasing
      "0\n2\n2 10\n3 10\n",  // start offsets not increasing
      "0\n1\n-1 0\n",
      "",
    ] {
      try text.write(toFile: path, atomically: true, encoding: .utf8)
      #expect(throws: StorageError.self, "\(text.debugDescription)") {
        try LeaderEpochFileCache.readFile(directory: dir.path)
      }
    }
  }

  @Test func assignKeepsBothColumnsIncreasing() throws {
    let dir = TemporaryDirectory()
    let path = dir.file(LeaderEpochFileCache.fileName)
    let cache = LeaderEpochFileCache(directory: dir.path)
    #expect(cache.latestEpoch == nil)
    #expect(try cache.assign(epoch: 2, startOffset: 0))
    #expect(try cache.assign(epoch: 3, startOffset: 10))
    #expect(try cache.assign(epoch: 5, startOffset: 20))
    #expect(cache.latestEpoch == 5)

    // No-ops, and the file is not written for them.
    try FileManager.default.removeItem(atPath: path)
    #expect(try !cache.assign(epoch: 5, startOffset: 20))
    #expect(try !cache.assign(epoch: 5, startOffset: 25))
    #expect(try !cache.assign(epoch: 4, startOffset: 30))
    #expect(try !cache.assign(epoch: -1, startOffset: 40))
    #expect(try !cache.assign(epoch: 6, startOffset: -1))
    #expect(!FileManager.default.fileExists(atPath: path))
    #expect(entries(cache) == [[2, 0], [3, 10], [5, 20]])

    // A newer epoch starting below existing entries replaces them.
    #expect(try cache.assign(epoch: 6, startOffset: 15))
    #expect(entries(cache) == [[2, 0], [3, 10], [6, 15]])
    // The latest epoch moved to a smaller offset.
    #expect(try cache.assign(epoch: 6, startOffset: 12))
    #expect(entries(cache) == [[2, 0], [3, 10], [6, 12]])
    #expect(try cache.assign(epoch: 7, startOffset: 0))
    #expect(entries(cache) == [[7, 0]])
    #expect(try contents(path) == "0\n1\n7 0\n")
  }

  @Test func endOffsetForEveryCase() throws {
    let dir = TemporaryDirectory()
    let cache = LeaderEpochFileCache(directory: dir.path)
    #expect(cache.endOffset(for: 0, logEndOffset: 40) == (-1, -1))  // empty
    for (epoch, start) in [(2, 0), (4, 10), (7, 25)] as [(Int32, Int64)] {
      try cache.assign(epoch: epoch, startOffset: start)
    }
    #expect(cache.endOffset(for: -1, logEndOffset: 40) == (-1, -1))
    // Below the first: the requested epoch, ending where the first starts (Kafka's answer).
    #expect(cache.endOffset(for: 1, logEndOffset: 40) == (1, 0))
    #expect(cache.endOffset(for: 2, logEndOffset: 40) == (2, 10))
    #expect(cache.endOffset(for: 3, logEndOffset: 40) == (2, 10))  // between: the floor epoch
    #expect(cache.endOffset(for: 4, logEndOffset: 40) == (4, 25))
    #expect(cache.endOffset(for: 6, logEndOffset: 40) == (4, 25))
    #expect(cache.endOffset(for: 7, logEndOffset: 40) == (7, 40))  // latest: the log end
    #expect(cache.endOffset(for: 9, logEndOffset: 40) == (7, 40))
  }

  @Test func truncationFromEitherEnd() throws {
    let dir = TemporaryDirectory()
    let path = dir.file(LeaderEpochFileCache.fileName)
    let cache = LeaderEpochFileCache(directory: dir.path, entries: [(1, 0), (2, 10), (3, 20)])

    try cache.truncateFromStart(startOffset: 5)
    #expect(entries(cache) == [[1, 5], [2, 10], [3, 20]])
    try cache.truncateFromStart(startOffset: 15)
    #expect(entries(cache) == [[2, 15], [3, 20]])
    try FileManager.default.removeItem(atPath: path)
    try cache.truncateFromStart(startOffset: 15)  // unchanged: no write
    try cache.truncateFromStart(startOffset: 2)
    #expect(!FileManager.default.fileExists(atPath: path))
    try cache.truncateFromStart(startOffset: 20)
    #expect(entries(cache) == [[3, 20]])
    try cache.truncateFromStart(startOffset: 30)
    #expect(entries(cache) == [[3, 30]])
    #expect(try contents(path) == "0\n1\n3 30\n")

    let other = LeaderEpochFileCache(directory: dir.path, entries: [(1, 0), (2, 10), (3, 20)])
    try other.truncateFromEnd(endOffset: 21)
    #expect(entries(other) == [[1, 0], [2, 10], [3, 20]])
    try other.truncateFromEnd(endOffset: 20)
    #expect(entries(other) == [[1, 0], [2, 10]])
    try other.truncateFromEnd(endOffset: 5)
    #expect(entries(other) == [[1, 0]])
    #expect(try contents(path) == "0\n1\n1 0\n")
    try other.truncateFromEnd(endOffset: 0)
    #expect(entries(other).isEmpty)
  }
}
