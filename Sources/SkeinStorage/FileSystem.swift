import FoundationEssentials

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The few file-system operations the log needs besides reading and writing segment files.
enum FileSystem {
  static func join(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
  }

  static func exists(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0
  }

  static func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
  }

  static func createDirectory(_ path: String) throws(StorageError) {
    do {
      try FileManager.default.createDirectory(
        atPath: path, withIntermediateDirectories: true, attributes: nil)
    } catch {
      throw .io(operation: "mkdir", path: path, errno: EIO)
    }
  }

  /// Names of the entries in a directory, without "." and "..".
  static func list(_ path: String) throws(StorageError) -> [String] {
    guard let dir = opendir(path) else { throw .io(operation: "opendir", path: path, errno: errno) }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names
  }

  /// Removes a file; a file that is already gone is not an error.
  static func removeFile(_ path: String) throws(StorageError) {
    if unlink(path) != 0 && errno != ENOENT {
      throw .io(operation: "unlink", path: path, errno: errno)
    }
  }

  static func removeTree(_ path: String) throws(StorageError) {
    guard exists(path) else { return }
    do {
      try FileManager.default.removeItem(atPath: path)
    } catch {
      throw .io(operation: "remove", path: path, errno: EIO)
    }
  }

  static func rename(_ from: String, to: String) throws(StorageError) {
    if systemRename(from, to) != 0 {
      throw .io(operation: "rename", path: from, errno: errno)
    }
  }

  /// Makes a directory's entries (created, renamed, removed files) durable.
  static func syncDirectory(_ path: String) throws(StorageError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
    defer { close(fd) }
    if fsync(fd) != 0 && errno != EINVAL {
      throw .io(operation: "fsync", path: path, errno: errno)
    }
  }

  /// The whole content of a small file, or nil when it does not exist.
  static func read(_ path: String) throws(StorageError) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 {
      if errno == ENOENT { return nil }
      throw .io(operation: "open", path: path, errno: errno)
    }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = chunk.withUnsafeMutableBytes { raw in systemRead(fd, raw.baseAddress, raw.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw .io(operation: "read", path: path, errno: errno)
      }
      if n == 0 { break }
      bytes.append(contentsOf: chunk[0..<n])
    }
    return bytes
  }

  /// Replaces a small file atomically: write a temporary file, fsync it, rename it over the old
  /// one, fsync the directory. A crash leaves either the old or the new content.
  static func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(StorageError) {
    let temporary = path + ".tmp"
    try write(temporary, bytes, sync: true)
    try rename(temporary, to: path)
    let slash = path.lastIndex(of: "/")
    try syncDirectory(slash.map { String(path[..<$0]) }.flatMap { $0.isEmpty ? "/" : $0 } ?? ".")
  }

  /// Writes a small file whole (created or truncated), fsynced when `sync`. A crash may leave
  /// it partly written: its readers must check what they read.
  static func write(_ path: String, _ bytes: [UInt8], sync: Bool) throws(StorageError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
    var failure: StorageError?
    var written = 0
    while written < bytes.count {
      let n = bytes.withUnsafeBytes { raw in
        systemWrite(fd, raw.baseAddress.map { $0 + written }, raw.count - written)
      }
      if n < 0 {
        if errno == EINTR { continue }
        failure = .io(operation: "write", path: path, errno: errno)
        break
      }
      written += n
    }
    if failure == nil && sync && fsync(fd) != 0 {
      failure = .io(operation: "fsync", path: path, errno: errno)
    }
    close(fd)
    if let failure {
      _ = unlink(path)
      throw failure
    }
  }
}

// `read`, `write` and `rename` are shadowed by methods in some scopes; name the C functions explicitly.
private func systemRead(_ fd: CInt, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
  read(fd, buffer, count)
}

private func systemWrite(_ fd: CInt, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
  write(fd, buffer, count)
}

private func systemRename(_ from: String, _ to: String) -> CInt {
  rename(from, to)
}
