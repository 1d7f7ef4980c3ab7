#if canImport(Glibc)
import Glibc
#endif

/// Thin wrappers for reading the file system's names: what a symlink points
/// at, and what a directory holds. Used to look at /proc, /sys and /dev.
public enum Paths {
    /// The target of the symlink at `path`, as stored (maybe relative); nil
    /// when it is no symlink or cannot be read. The corresponding C function
    /// is `readlink`.
    public static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBufferPointer { chars -> Int in
            guard let start = chars.baseAddress else { return -1 }
            return readlink(path, start, chars.count - 1)
        }
        guard n > 0 else { return nil }
        return buffer.withUnsafeBufferPointer {
            String(decoding: UnsafeRawBufferPointer(start: $0.baseAddress, count: n), as: UTF8.self)
        }
    }

    /// Calls `body` with each name in the directory at `path`, `.` and `..`
    /// left out. Returns false when the directory cannot be opened. The
    /// corresponding C functions are `opendir` and `readdir`.
    @discardableResult
    public static func forEachEntry(in path: String, _ body: (String) -> Void) -> Bool {
        guard let dir = opendir(path) else { return false }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { body(name) }
        }
        return true
    }
}
