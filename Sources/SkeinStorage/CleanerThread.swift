#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A plain pthread running one closure, joined by `join()`: the log cleaner's threads do
/// blocking file I/O for long stretches, which does not belong on an event loop or in the
/// cooperative pool.
final class CleanerThread: @unchecked Sendable {
  // @unchecked Sendable: `thread` is written once in `start` before any other thread can see
  // this object and read only by `join`, which the owner calls once.
  private var thread: pthread_t?

  private final class Box {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
  }

  /// Starts a thread running `body`.
  static func start(_ body: @escaping @Sendable () -> Void) -> CleanerThread? {
    let result = CleanerThread()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    #if canImport(Darwin)
      var handle: pthread_t?
    #else
      var handle = pthread_t()
    #endif
    let rc = pthread_create(
      &handle, nil,
      { raw in
        #if canImport(Darwin)
          let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
        #else
          guard let raw else { return nil }
          let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
        #endif
        box.body()
        return nil
      }, box)
    guard rc == 0 else {
      Unmanaged<Box>.fromOpaque(box).release()
      return nil
    }
    result.thread = handle
    return result
  }

  func join() {
    guard let thread else { return }
    self.thread = nil
    pthread_join(thread, nil)
  }

  static func sleep(milliseconds: Int) {
    guard milliseconds > 0 else { return }
    var wanted = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var remaining = timespec()
    while nanosleep(&wanted, &remaining) != 0 && errno == EINTR { wanted = remaining }
  }

  static func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
  }

  static func wallClockMilliseconds() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
  }
}

extension SegmentFile {
  /// Sets the file's modification time: a cleaned segment takes the newest of the segments it
  /// replaces, as in Kafka, so time-based retention of `compact,delete` logs sees their age.
  func setModificationTime(milliseconds: Int64) throws(StorageError) {
    let time = timespec(
      tv_sec: Int(milliseconds / 1000), tv_nsec: Int(milliseconds % 1000) * 1_000_000)
    let times = [time, time]
    let rc = times.withUnsafeBufferPointer { futimens(descriptor, $0.baseAddress) }
    guard rc == 0 else { throw .io(operation: "futimens", path: path, errno: errno) }
  }
}
