#include "builder/add_url.h"

#include <fcntl.h>
#include <unistd.h>

#include <ctime>

#include "common/error.h"
#include "common/sha256.h"
#include "common/unique_fd.h"
#include "image/http_client.h"
#include "image/layer_unpack.h"

namespace coracle::builder {
namespace {

// The URL's path without query and fragment, %XX decoded (Go's u.Path).
std::string url_path(const std::string& url) {
  size_t scheme = url.find("://");
  size_t start = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (start == std::string::npos) return "/";
  std::string raw = url.substr(start, url.find_first_of("?#", start) - start);
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '%' && i + 2 < raw.size() && isxdigit(static_cast<unsigned char>(raw[i + 1])) &&
        isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
      out += static_cast<char>(std::stoi(raw.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += raw[i];
    }
  }
  return out;
}

// BuildKit's file name: the path's base, "__unnamed__" when there is none.
std::string file_name_of(const std::string& url) {
  std::string path = url_path(url);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::string base = path.substr(path.rfind('/') + 1);
  if (base.empty() || base == "." || base == ".." || base.find('\0') != std::string::npos)
    return "__unnamed__";
  return base;
}

// An HTTP date (RFC 9110's IMF-fixdate) as seconds; 0 when unreadable.
int64_t parse_http_date(const std::string& text) {
  struct tm tm {};
  const char* rest = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return rest ? static_cast<int64_t>(timegm(&tm)) : 0;
}

}  // namespace

bool is_url_source(const std::string& source) {
  return source.rfind("http://", 0) == 0 || source.rfind("https://", 0) == 0;
}

bool is_git_source(const std::string& source) {
  if (source.rfind("git@", 0) == 0 || source.rfind("git://", 0) == 0) return true;
  if (!is_url_source(source)) return false;
  std::string path = url_path(source);
  return path.size() >= 4 && path.compare(path.size() - 4, 4, ".git") == 0;
}

DownloadedFile download_url(const std::string& url, const std::string& dir,
                            const std::optional<std::string>& checksum, sandbox::NetMode net,
                            const std::string& where) {
  if (net == sandbox::NetMode::None || net == sandbox::NetMode::Private)
    throw Error(where + ": ADD " + url + ": the build has no network (--network " +
                (net == sandbox::NetMode::None ? "none" : "private") + ")");
  if (checksum && checksum->rfind("sha256:", 0) != 0)
    throw Error(where + ": ADD --checksum=" + *checksum + ": use sha256:HEX");
  if (checksum && !is_sha256_digest(*checksum))
    throw Error(where + ": ADD --checksum=" + *checksum + ": not a sha256 digest (64 hex digits)");

  DownloadedFile file;
  file.name = file_name_of(url);
  file.path = dir + "/download";
  UniqueFd out(open(file.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out) throw_errno(where + ": cannot make " + file.path);

  image::HttpRequest request;
  request.url = url;
  // The host's own services are out of RUN's reach unless the build has
  // the host's network: ADD may not reach them either.
  request.no_loopback = net != sandbox::NetMode::Host;
  image::HttpSession session(image::HttpOptions{});
  Sha256 hash;
  uint64_t size = 0, limit = image::max_entry_size();
  std::string prefix = where + ": ADD " + url + ": ";
  image::HttpResult result = session.perform(
      request,
      [&](const image::HttpResponse& response) {
        if (response.status != 200)
          throw Error(prefix + "the server answered HTTP " + std::to_string(response.status));
        file.mtime = parse_http_date(response.header("last-modified"));
      },
      [&](const char* data, size_t n) {
        size += n;
        if (size > limit)
          throw Error(prefix + "larger than a layer entry may be (" + std::to_string(limit) +
                      " bytes; --max-entry-size)");
        hash.update(data, n);
        while (n > 0) {
          ssize_t w = ::write(out.get(), data, n);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) throw_errno(prefix + "cannot write " + file.path);
          data += w;
          n -= static_cast<size_t>(w);
        }
      });
  if (!result.ok) throw Error(prefix + result.error);
  if (result.response.status != 200)
    throw Error(prefix + "the server answered HTTP " + std::to_string(result.response.status));
  file.digest = hash.digest();
  if (checksum && *checksum != file.digest)
    throw Error(prefix + "checksum mismatch: --checksum=" + *checksum + ", the download is " +
                file.digest);
  if (!file.mtime) file.mtime = static_cast<int64_t>(time(nullptr));
  return file;
}

}  // namespace coracle::builder
