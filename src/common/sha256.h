// SHA-256 for content addressing: blobs are named by it, layers are checked
// against their diff_ids with it. OpenSSL's libcrypto (static) does the
// hashing; its x86 code uses the SHA extensions where the CPU has them.
#pragma once
#include <openssl/sha.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace coracle {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // "sha256:<64 hex>"; ends the hash (update may not be called after).
  std::string digest();

 private:
  SHA256_CTX ctx_;
};

// "sha256:<64 hex>" of data.
std::string sha256_digest(std::string_view data);
// True for "sha256:" followed by exactly 64 lowercase hex digits.
bool is_sha256_digest(std::string_view digest);

}  // namespace coracle
