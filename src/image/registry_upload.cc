// The upload half of the distribution API (v2): blob existence (HEAD),
// cross-repository mounts, uploads (POST to start one, then one PUT, or
// PATCH pieces and a closing PUT) and manifests (PUT). The registry's
// Location headers name where an upload continues; each one is taken
// relative to the registry and only ever on it.
#include <unistd.h>

#include <algorithm>

#include "common/error.h"
#include "common/sha256.h"
#include "image/registry.h"

namespace coracle::image {
namespace {

// location with "digest=D" added to its query.
std::string with_digest(const std::string& location, const std::string& digest) {
  return location + (location.find('?') == std::string::npos ? "?" : "&") + "digest=" + digest;
}

// A body of size bytes read from fd at offset, for HttpRequest::body.
std::function<size_t(char*, size_t)> file_range(int fd, uint64_t offset, uint64_t size,
                                                const std::function<void(uint64_t)>& sent) {
  auto done = std::make_shared<uint64_t>(0);
  return [=](char* buf, size_t max) -> size_t {
    size_t want = static_cast<size_t>(std::min<uint64_t>(max, size - *done));
    if (want == 0) return 0;
    ssize_t n;
    do n = pread(fd, buf, want, static_cast<off_t>(offset + *done));
    while (n < 0 && errno == EINTR);
    if (n <= 0) return 0;  // curl then fails the transfer: fewer bytes than announced
    *done += static_cast<uint64_t>(n);
    if (sent) sent(offset + *done);
    return static_cast<size_t>(n);
  };
}

}  // namespace

std::string RegistryClient::repository_url(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  return request(path).url;
}

std::string RegistryClient::absolute_url(const std::string& location) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (location.rfind("/", 0) == 0) return base_ + location;
  // An absolute URL must stay on the registry: an upload's bytes and the
  // credentials never go to a host the registry names.
  if (location.rfind(base_ + "/", 0) == 0) return location;
  throw Error("registry " + ref_.registry + " sent an upload location on another host (" +
              location + ")");
}

bool RegistryClient::has_blob(const Descriptor& d) {
  std::string url;
  HttpResult r = send(
      [&](HttpRequest& req) {
        req.method = "HEAD";
        req.url = url = repository_url("/blobs/" + d.digest);
      },
      nullptr, "blob " + d.digest);
  if (r.response.status == 200) return true;
  if (r.response.status == 404) return false;
  fail_status(r.response, "blob " + d.digest, url);
}

bool RegistryClient::mount_blob(const Descriptor& d, const std::string& from) {
  std::string url;
  HttpResult r = send(
      [&](HttpRequest& req) {
        req.method = "POST";
        req.url = url = repository_url("/blobs/uploads/?mount=" + d.digest + "&from=" + from);
        req.body_size = 0;
        req.body = [](char*, size_t) -> size_t { return 0; };
      },
      nullptr, "mounting blob " + d.digest);
  // 201: mounted. 202: the registry started a plain upload instead; it
  // expires unused, and the caller uploads afresh.
  if (r.response.status == 201) return true;
  if (r.response.status == 202) return false;
  fail_status(r.response, "mounting blob " + d.digest + " from " + from, url);
}

void RegistryClient::upload_blob(const Descriptor& d, int fd, uint64_t chunk_size,
                                 const std::function<void(uint64_t)>& on_progress) {
  uint64_t size = static_cast<uint64_t>(d.size);
  std::string what = "uploading blob " + d.digest;
  std::string url;
  HttpResult r = send(
      [&](HttpRequest& req) {
        req.method = "POST";
        req.url = url = repository_url("/blobs/uploads/");
        req.body_size = 0;
        req.body = [](char*, size_t) -> size_t { return 0; };
      },
      nullptr, what);
  if (r.response.status != 202) fail_status(r.response, what, url);
  std::string location = r.response.header("location");
  if (location.empty())
    throw Error("registry " + ref_.registry + " started an upload with no Location");
  uint64_t offset = 0;
  // Chunked: PATCH pieces; each answer names where the next one goes.
  while (chunk_size > 0 && offset < size) {
    uint64_t n = std::min(chunk_size, size - offset);
    url = absolute_url(location);
    r = send(
        [&](HttpRequest& req) {
          req.method = "PATCH";
          req.url = url;
          req.headers.push_back("Content-Type: application/octet-stream");
          req.headers.push_back("Content-Range: " + std::to_string(offset) + "-" +
                                std::to_string(offset + n - 1));
          req.body_size = static_cast<int64_t>(n);
          req.body = file_range(fd, offset, n, on_progress);
        },
        nullptr, what);
    if (r.response.status != 202) fail_status(r.response, what + " (a chunk)", url);
    offset += n;
    location = r.response.header("location");
    if (location.empty()) throw Error("registry " + ref_.registry + " lost the upload's Location");
  }
  // The closing PUT: the rest (all of it, for a monolithic upload).
  url = with_digest(absolute_url(location), d.digest);
  r = send(
      [&](HttpRequest& req) {
        req.method = "PUT";
        req.url = url;
        req.headers.push_back("Content-Type: application/octet-stream");
        req.body_size = static_cast<int64_t>(size - offset);
        req.body = file_range(fd, offset, size - offset, on_progress);
      },
      nullptr, what);
  if (r.response.status != 201) fail_status(r.response, what, url);
  std::string claimed = r.response.header("docker-content-digest");
  if (!claimed.empty() && claimed != d.digest)
    throw Error("registry " + ref_.registry + " stored blob " + d.digest + " as " + claimed);
}

std::string RegistryClient::put_manifest(const std::string& tag_or_digest, const std::string& body,
                                         const std::string& media_type) {
  std::string url, digest = sha256_digest(body);
  HttpResult r = send(
      [&](HttpRequest& req) {
        req.method = "PUT";
        req.url = url = repository_url("/manifests/" + tag_or_digest);
        req.headers.push_back("Content-Type: " + media_type);
        req.body_size = static_cast<int64_t>(body.size());
        auto sent = std::make_shared<size_t>(0);
        req.body = [&body, sent](char* buf, size_t max) -> size_t {
          size_t n = std::min(max, body.size() - *sent);
          std::copy_n(body.data() + *sent, n, buf);
          *sent += n;
          return n;
        };
      },
      nullptr, "the manifest " + digest);
  if (r.response.status != 201) fail_status(r.response, "the manifest " + digest, url);
  std::string claimed = r.response.header("docker-content-digest");
  if (!claimed.empty() && claimed != digest)
    throw Error("registry " + ref_.registry + " stored the manifest " + digest + " as " + claimed);
  return digest;
}

}  // namespace coracle::image
