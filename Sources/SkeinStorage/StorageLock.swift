#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A plain pthread mutex.
///
/// `Synchronization.Mutex` would do, but the package still targets macOS 14 where it is not
/// available, and NIOConcurrencyHelpers is not a dependency of this module.
final class StorageLock: @unchecked Sendable {
  // Safe to share: the mutex lives at a fixed heap address for the object's whole lifetime and
  // is only touched through pthread calls, which are themselves thread-safe.
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>

  init() {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    let rc = pthread_mutex_init(mutex, nil)
    precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deinitialize(count: 1)
    mutex.deallocate()
  }

  func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body()
  }
}
