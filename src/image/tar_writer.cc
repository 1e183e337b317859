#include "image/tar_writer.h"

#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace coracle::image {
namespace {

constexpr size_t kBlock = 512;

// Fits value into an octal field of width bytes (with its NUL)?
bool fits_octal(uint64_t value, size_t width) {
  return width >= 22 || value < (1ULL << (3 * (width - 1)));
}

void put_octal(char* field, size_t width, uint64_t value) {
  snprintf(field, width, "%0*llo", static_cast<int>(width - 1),
           static_cast<unsigned long long>(value));
}

// "LEN key=value\n", where LEN counts the whole record, itself included.
void pax_record(std::string& out, const std::string& key, const std::string& value) {
  size_t body = 1 + key.size() + 1 + value.size() + 1;  // " key=value\n"
  size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  out += std::to_string(len) + " " + key + "=" + value + "\n";
}

char type_flag(TarEntry::Type type) {
  switch (type) {
    case TarEntry::Type::kFile:
      return '0';
    case TarEntry::Type::kHardlink:
      return '1';
    case TarEntry::Type::kSymlink:
      return '2';
    case TarEntry::Type::kCharDev:
      return '3';
    case TarEntry::Type::kBlockDev:
      return '4';
    case TarEntry::Type::kDir:
      return '5';
    case TarEntry::Type::kFifo:
      return '6';
  }
  return '0';
}

// ustar splits a long name at a '/' into prefix (155) and name (100).
bool split_name(const std::string& name, std::string& prefix, std::string& rest) {
  if (name.size() <= 100) {
    prefix.clear();
    rest = name;
    return true;
  }
  for (size_t slash = name.find('/'); slash != std::string::npos;
       slash = name.find('/', slash + 1)) {
    if (slash <= 155 && name.size() - slash - 1 <= 100 && slash + 1 < name.size()) {
      prefix = name.substr(0, slash);
      rest = name.substr(slash + 1);
      return true;
    }
  }
  return false;
}

}  // namespace

void TarWriter::write(const void* bytes, size_t size) {
  sink_(bytes, size);
  written_ += size;
}

void TarWriter::end_entry() {
  if (remaining_) throw Error("tar: an entry's data is short by " + std::to_string(remaining_));
  static const char zeros[kBlock] = {};
  if (padding_) write(zeros, padding_);
  padding_ = 0;
}

void TarWriter::header(const std::string& name, char type, const TarEntry& e, uint64_t size) {
  char h[kBlock] = {};
  std::string prefix, rest;
  split_name(name, prefix, rest);  // the caller made sure it fits, or sent pax
  memcpy(h, rest.data(), std::min<size_t>(rest.size(), 100));
  put_octal(h + 100, 8, e.mode & 07777);
  put_octal(h + 108, 8, fits_octal(e.uid, 8) ? e.uid : 0);
  put_octal(h + 116, 8, fits_octal(e.gid, 8) ? e.gid : 0);
  put_octal(h + 124, 12, fits_octal(size, 12) ? size : 0);
  put_octal(h + 136, 12, e.mtime > 0 ? static_cast<uint64_t>(e.mtime) : 0);
  h[156] = type;
  memcpy(h + 157, e.link.data(), std::min<size_t>(e.link.size(), 100));
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  put_octal(h + 329, 8, e.dev_major);
  put_octal(h + 337, 8, e.dev_minor);
  memcpy(h + 345, prefix.data(), std::min<size_t>(prefix.size(), 155));
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  snprintf(h + 148, 8, "%06o", sum);
  write(h, sizeof h);
}

void TarWriter::add(const TarEntry& e) {
  end_entry();
  if (e.name.empty() || e.name[0] == '/') throw Error("tar: bad entry name '" + e.name + "'");
  std::string name = e.name;
  if (e.type == TarEntry::Type::kDir && name.back() != '/') name += '/';
  uint64_t size = e.type == TarEntry::Type::kFile ? e.size : 0;

  // What ustar cannot hold goes into a pax header before the entry; the
  // ustar name is then a truncated stand-in that readers of pax ignore.
  std::string pax, prefix, rest;
  std::string ustar_name = name;
  if (!split_name(name, prefix, rest)) {
    pax_record(pax, "path", name);
    ustar_name = name.substr(0, 100);
  }
  if (e.link.size() > 100) pax_record(pax, "linkpath", e.link);
  if (!fits_octal(e.uid, 8)) pax_record(pax, "uid", std::to_string(e.uid));
  if (!fits_octal(e.gid, 8)) pax_record(pax, "gid", std::to_string(e.gid));
  if (!fits_octal(size, 12)) pax_record(pax, "size", std::to_string(size));
  for (const auto& [key, value] : e.xattrs) pax_record(pax, "SCHILY.xattr." + key, value);
  if (!pax.empty()) {
    TarEntry meta;
    meta.mode = 0644;
    size_t base = name.find_last_of('/', name.size() - 2);
    std::string leaf = base == std::string::npos ? name : name.substr(base + 1);
    std::string meta_name = "PaxHeaders/" + leaf.substr(0, std::min<size_t>(leaf.size(), 80));
    header(meta_name, 'x', meta, pax.size());
    write(pax.data(), pax.size());
    static const char zeros[kBlock] = {};
    if (pax.size() % kBlock) write(zeros, kBlock - pax.size() % kBlock);
  }
  header(ustar_name, type_flag(e.type), e, size);
  remaining_ = size;
  padding_ = size % kBlock ? kBlock - size % kBlock : 0;
}

void TarWriter::data(const void* bytes, size_t size) {
  if (size > remaining_) throw Error("tar: more data than the entry's size");
  write(bytes, size);
  remaining_ -= size;
}

void TarWriter::add_file(TarEntry entry, const std::string& contents) {
  entry.type = TarEntry::Type::kFile;
  entry.size = contents.size();
  add(entry);
  data(contents.data(), contents.size());
}

void TarWriter::finish() {
  end_entry();
  static const char zeros[2 * kBlock] = {};
  write(zeros, sizeof zeros);
}

}  // namespace coracle::image
