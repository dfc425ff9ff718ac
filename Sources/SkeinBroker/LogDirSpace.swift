#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Total and free bytes of the file system holding a path (DescribeLogDirs v4).
enum LogDirSpace {
  struct StatFailed: Error {}

  static func measure(_ path: String) throws -> (total: Int64, usable: Int64) {
    var info = statvfs()
    guard statvfs(path, &info) == 0 else { throw StatFailed() }
    let block = Int64(info.f_frsize)
    return (Int64(info.f_blocks) * block, Int64(info.f_bavail) * block)
  }
}
