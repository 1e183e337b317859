// The SHA256_* functions are deprecated in OpenSSL 3 in favour of EVP, but
// EVP drags the provider machinery into a static binary for no gain here.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "common/sha256.h"

namespace coracle {

Sha256::Sha256() {
  SHA256_Init(&ctx_);
}

void Sha256::update(const void* data, size_t size) {
  SHA256_Update(&ctx_, data, size);
}

std::string Sha256::digest() {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_Final(md, &ctx_);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned char b : md) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string sha256_digest(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.digest();
}

bool is_sha256_digest(std::string_view digest) {
  if (digest.size() != 71 || digest.substr(0, 7) != "sha256:") return false;
  for (char c : digest.substr(7))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace coracle
