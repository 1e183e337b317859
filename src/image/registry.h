// A client for the OCI distribution API (v2): manifests and blobs of one
// repository, with the registry's auth (bearer tokens from its
// WWW-Authenticate challenge, or basic auth), retries, and resumption of a
// broken blob transfer with Range. It checks nothing itself: callers
// verify digests (BlobWriter, manifest digests in pull.cc).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "image/credentials.h"
#include "image/http_client.h"
#include "image/oci.h"
#include "image/reference.h"
#include "image/store.h"

namespace coracle::image {

struct RegistryOptions {
  // Plain HTTP and unverified TLS. Without it, plain HTTP is used only for
  // registries on 127.0.0.0/8, ::1 or localhost (as docker does).
  bool insecure = false;
  std::string ca_file;  // a CA to trust beside the system's (--ca)
  int retries = 5;      // per blob, for transfers that make no progress
  // What the client asks a token for: "pull", or "pull,push" to upload.
  std::string actions = "pull";
};

// May the registry be spoken to in plain HTTP? Only with --insecure, or
// for 127.0.0.0/8, ::1 and localhost (as docker allows).
bool plain_http_allowed(const std::string& registry, bool insecure);

struct FetchedManifest {
  std::string body, media_type, digest;
};

class RegistryClient {
 public:
  RegistryClient(const Reference& ref, RegistryOptions options,
                 std::optional<Credential> credential);
  ~RegistryClient();

  // tag_or_digest: "latest" or "sha256:...". The digest is that of the
  // bytes received; if the request named a digest, they must match it.
  FetchedManifest manifest(const std::string& tag_or_digest);

  // Streams the blob into writer (resuming after a cut, restarting when
  // the server ignores Range); on_progress gets the bytes so far.
  void blob(const Descriptor& blob, BlobWriter& writer,
            const std::function<void(uint64_t)>& on_progress);

  // Checks that the registry answers and accepts the credential
  // (`coracle login`); throws saying what is wrong.
  void check_login();

  // Where the registry's API was found ("https://host/v2/").
  std::string endpoint();

  // The upload side (registry_upload.cc), for `image push`:
  // whether the repository has the blob (HEAD);
  bool has_blob(const Descriptor& blob);
  // asks the registry to mount the blob from another repository of its
  // own (no bytes sent); false when it would not;
  bool mount_blob(const Descriptor& blob, const std::string& from_repository);
  // uploads the blob's bytes, read from fd (size bytes from offset 0):
  // in one PUT when chunk_size is 0, else PATCH pieces of chunk_size then
  // the closing PUT; on_progress gets the bytes sent so far;
  void upload_blob(const Descriptor& blob, int fd, uint64_t chunk_size,
                   const std::function<void(uint64_t)>& on_progress);
  // PUTs a manifest under tag_or_digest; returns the digest the registry
  // gives it (checked against the bytes sent).
  std::string put_manifest(const std::string& tag_or_digest, const std::string& body,
                           const std::string& media_type);

 private:
  struct Lease;
  Lease lease();
  void ping();
  void authenticate(HttpSession& session, const std::string& challenge);
  std::vector<std::string> auth_headers();
  HttpRequest request(const std::string& path) const;
  [[noreturn]] void fail_status(const HttpResponse& r, const std::string& what,
                                const std::string& url);
  // One request with the registry's auth, re-authenticating once on a 401
  // that carries a challenge and retrying transport failures and 5xx;
  // prepare fills in the request each time (a body is read again).
  HttpResult send(const std::function<void(HttpRequest&)>& prepare, std::string* body,
                  const std::string& what);
  std::string absolute_url(const std::string& location);
  std::string repository_url(const std::string& path);  // request(path).url, locked

  Reference ref_;
  RegistryOptions options_;
  std::optional<Credential> credential_;
  HttpOptions http_options_;
  bool plain_allowed_;

  std::mutex ping_mutex_;  // one ping (and token) at a time
  std::mutex mutex_;       // guards all below
  std::vector<std::unique_ptr<HttpSession>> idle_;
  std::string base_;  // "https://host" once pinged
  bool insecure_tls_ = false;
  std::string challenge_;      // the ping's WWW-Authenticate
  std::string authorization_;  // "Bearer ..." / "Basic ..." / ""
};

}  // namespace coracle::image
