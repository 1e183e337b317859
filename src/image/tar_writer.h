// A tar stream writer: ustar headers, with a POSIX pax header before an
// entry whenever ustar cannot say it (a long name or link, an id or size
// too large, extended attributes as SCHILY.xattr.*). Every entry type a
// layer holds. Not libarchive's writer: its format table drags in the xar
// writer and libxml2, which the static binary cannot link.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace coracle::image {

struct TarEntry {
  enum class Type { kFile, kDir, kSymlink, kHardlink, kCharDev, kBlockDev, kFifo };
  Type type = Type::kFile;
  std::string name;      // relative, '/'-separated, no leading '/'
  uint32_t mode = 0644;  // permission bits with setuid, setgid, sticky
  uint64_t uid = 0, gid = 0;
  uint64_t size = 0;  // kFile only
  int64_t mtime = 0;  // seconds since the epoch
  std::string link;   // kSymlink: the target; kHardlink: the entry linked to
  uint32_t dev_major = 0, dev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;  // name → raw value
};

class TarWriter {
 public:
  using Sink = std::function<void(const void* data, size_t size)>;
  explicit TarWriter(Sink sink) : sink_(std::move(sink)) {}

  // Starts an entry; a kFile's contents follow through data(), exactly
  // entry.size bytes in all. Throws coracle::Error on misuse.
  void add(const TarEntry& entry);
  void data(const void* bytes, size_t size);
  // A whole small file at once.
  void add_file(TarEntry entry, const std::string& contents);
  // Ends the archive (two zero blocks). Throws if an entry is unfinished.
  void finish();
  uint64_t bytes_written() const { return written_; }

 private:
  void write(const void* bytes, size_t size);
  void end_entry();
  void header(const std::string& name, char type, const TarEntry& e, uint64_t size);

  Sink sink_;
  uint64_t remaining_ = 0;  // of the current file's data
  uint64_t padding_ = 0;    // to write once it is done
  uint64_t written_ = 0;
};

}  // namespace coracle::image
