// One owner for a libarchive read handle (shared/STYLE.md habit 2): the class frees it in deinit,
// and `check` turns a return code plus archive_error_string into a LiftoffError.
import CArchive
import LiftoffCore

final class ArchiveReader {
  let handle: OpaquePointer
  let what: String

  /// A reader for tar (any tar dialect) compressed with gzip, zstd or nothing.
  init(what: String) throws {
    guard let a = archive_read_new() else { throw LiftoffError.internal("archive_read_new failed") }
    handle = a
    self.what = what
    archive_read_support_filter_gzip(a)
    archive_read_support_filter_zstd(a)
    archive_read_support_filter_none(a)
    archive_read_support_format_tar(a)
  }

  func open(path: String, blockSize: Int = 1 << 20) throws {
    try check(archive_read_open_filename(handle, path, blockSize), "open \(path)")
  }

  func open(fd: Int32, blockSize: Int = 1 << 20) throws {
    try check(archive_read_open_fd(handle, fd, blockSize), "open")
  }

  /// The next entry, or nil at the end of the archive.
  func next() throws -> OpaquePointer? {
    var entry: OpaquePointer?
    let r = archive_read_next_header(handle, &entry)
    if r == ARCHIVE_EOF { return nil }
    if r == ARCHIVE_WARN { return entry }
    try check(r, "read header")
    return entry
  }

  var errorString: String {
    archive_error_string(handle).map { String(cString: $0) } ?? "unknown libarchive error"
  }

  func check(_ r: Int32, _ op: String) throws {
    if r == ARCHIVE_OK || r == ARCHIVE_WARN { return }
    throw LiftoffError.invalidArgument("\(what): \(op): \(errorString)")
  }

  deinit { archive_read_free(handle) }
}
