import KafkaProtocol
import NIOCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// One open file of a log segment (`.log`, `.index` or `.timeindex`).
///
/// The object owns its file descriptor and closes it when the last reference goes away. A reader
/// that holds a `FetchDataInfo` therefore keeps the file readable even if retention or a
/// truncation removes the segment meanwhile: POSIX keeps an unlinked file alive while it is open.
public final class SegmentFile: Sendable {
  /// The path the file was opened at (it may have been renamed or removed since).
  public let path: String
  let descriptor: CInt

  /// Opens `path` for reading and writing, creating it if needed; `truncate` empties it.
  init(path: String, truncate: Bool = false) throws(StorageError) {
    var flags = O_RDWR | O_CREAT | O_CLOEXEC
    if truncate { flags |= O_TRUNC }
    let fd = open(path, flags, 0o644)
    guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
    self.path = path
    self.descriptor = fd
  }

  deinit {
    close(descriptor)
  }

  /// Reads `length` bytes at `position` into a new buffer (pread). Fails if the file is shorter.
  public func readBytes(
    at position: Int, length: Int, allocator: ByteBufferAllocator = ByteBufferAllocator()
  ) throws(StorageError) -> ByteBuffer {
    var buffer = allocator.buffer(capacity: max(length, 0))
    let count = try read(into: &buffer, at: position, length: length)
    guard count == length else {
      throw .corruptLog(
        path: path, reason: "short read at \(position): \(count) of \(length) bytes")
    }
    return buffer
  }

  /// A new `NIOFileHandle` on a duplicate of the descriptor, for building a `FileRegion`. The
  /// caller owns it and must close it once the region has been written.
  public func makeFileHandle() throws(StorageError) -> NIOFileHandle {
    let fd = dup(descriptor)
    guard fd >= 0 else { throw .io(operation: "dup", path: path, errno: errno) }
    return NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
  }

  /// Runs `body` with the raw descriptor, which stays open at least until `body` returns.
  public func withUnsafeDescriptor<T>(_ body: (CInt) throws -> T) rethrows -> T {
    try withExtendedLifetime(self) { try body(descriptor) }
  }

  /// Appends up to `length` bytes read at `position` to `buffer`; fewer only at end of file.
  @discardableResult
  func read(into buffer: inout ByteBuffer, at position: Int, length: Int) throws(StorageError)
    -> Int
  {
    guard length > 0 else { return 0 }
    var failure: Int32 = 0
    let fd = descriptor
    let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw -> Int in
      guard let base = raw.baseAddress else { return 0 }
      var done = 0
      while done < length {
        let n = pread(fd, base + done, length - done, off_t(position + done))
        if n < 0 {
          if errno == EINTR { continue }
          failure = errno
          return 0
        }
        if n == 0 { break }
        done += n
      }
      return done
    }
    if failure != 0 { throw .io(operation: "pread", path: path, errno: failure) }
    return count
  }

  func write(_ bytes: UnsafeRawBufferPointer, at position: Int) throws(StorageError) {
    guard let base = bytes.baseAddress else { return }
    var done = 0
    while done < bytes.count {
      let n = pwrite(descriptor, base + done, bytes.count - done, off_t(position + done))
      if n < 0 {
        if errno == EINTR { continue }
        throw .io(operation: "pwrite", path: path, errno: errno)
      }
      done += n
    }
  }

  /// Writes the readable bytes of `buffer` at `position` (pwrite).
  func write(_ buffer: ByteBuffer, at position: Int) throws(StorageError) {
    let result: Result<Void, StorageError> = buffer.withUnsafeReadableBytes { raw in
      do throws(StorageError) {
        try write(raw, at: position)
        return .success(())
      } catch {
        return .failure(error)
      }
    }
    try result.get()
  }

  func size() throws(StorageError) -> Int {
    var info = stat()
    guard fstat(descriptor, &info) == 0 else {
      throw .io(operation: "fstat", path: path, errno: errno)
    }
    return Int(info.st_size)
  }

  /// Last modification time in milliseconds since the epoch.
  func modificationTimeMs() throws(StorageError) -> Int64 {
    var info = stat()
    guard fstat(descriptor, &info) == 0 else {
      throw .io(operation: "fstat", path: path, errno: errno)
    }
    #if canImport(Darwin)
      let time = info.st_mtimespec
    #else
      let time = info.st_mtim
    #endif
    return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
  }

  func truncate(to size: Int) throws(StorageError) {
    while ftruncate(descriptor, off_t(size)) != 0 {
      if errno != EINTR { throw .io(operation: "ftruncate", path: path, errno: errno) }
    }
  }

  func sync() throws(StorageError) {
    while fsync(descriptor) != 0 {
      if errno != EINTR { throw .io(operation: "fsync", path: path, errno: errno) }
    }
  }

  /// Removes the file's name; the data stays readable through this object until it goes away.
  func unlinkFile() throws(StorageError) {
    try FileSystem.removeFile(path)
  }
}
