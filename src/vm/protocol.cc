#include "vm/protocol.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace coracle::vm {
namespace {

// The protocol's integers: 4 bytes, little-endian.
void put_le32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t get_le32(std::string_view in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return v;
}

}  // namespace

std::string encode_frame(FrameType type, std::string_view payload) {
  if (payload.size() > kMaxFramePayload) throw Error("frame payload too large");
  uint32_t length = static_cast<uint32_t>(payload.size()) + 1;
  std::string out;
  out.reserve(4 + length);
  put_le32(out, length);
  out.push_back(static_cast<char>(type));
  out.append(payload);
  return out;
}

std::string stream_payload(uint32_t id, std::string_view bytes) {
  std::string out;
  put_le32(out, id);
  out.append(bytes);
  return out;
}

uint32_t stream_id(const std::string& payload) {
  return payload.size() < 4 ? 0 : get_le32(payload);
}

void FrameReader::feed(const char* data, size_t size) {
  buffer_.append(data, size);
}

std::optional<Frame> FrameReader::next() {
  if (buffer_.size() < 5) return std::nullopt;
  uint32_t length = get_le32(buffer_);
  if (length == 0 || length - 1 > kMaxFramePayload)
    throw Error("the guest sent a frame of " + std::to_string(length) + " bytes");
  if (buffer_.size() < 4 + static_cast<size_t>(length)) return std::nullopt;
  auto type = static_cast<uint8_t>(buffer_[4]);
  bool known = (type >= 1 && type <= 8) || (type >= 16 && type <= 21);
  if (!known) throw Error("a frame of unknown type " + std::to_string(type));
  Frame f{static_cast<FrameType>(type), buffer_.substr(5, length - 1)};
  buffer_.erase(0, 4 + static_cast<size_t>(length));
  return f;
}

std::string to_json(const GuestSpec& s) {
  nlohmann::json j;
  j["argv"] = s.argv;
  j["env"] = s.env;
  j["uid"] = s.uid;
  j["gid"] = s.gid;
  j["workdir"] = s.workdir;
  j["hostname"] = s.hostname;
  j["layers"] = s.layers;
  j["read_only"] = s.read_only;
  j["shares"] = nlohmann::json::array();
  for (const auto& sh : s.shares)
    j["shares"].push_back({{"tag", sh.tag}, {"target", sh.target}, {"read_only", sh.read_only}});
  j["files"] = nlohmann::json::array();
  for (const auto& [target, content] : s.files)
    j["files"].push_back({{"target", target}, {"content", content}});
  j["cgroup2"] = s.cgroup2;
  j["agent_at"] = s.agent_at;
  j["watch_ports"] = s.watch_ports;
  j["tty"] = s.tty;
  j["rows"] = s.rows;
  j["cols"] = s.cols;
  j["network"] = s.network;
  j["cap_add"] = s.cap_add;
  j["cap_drop"] = s.cap_drop;
  j["seccomp"] = s.seccomp;
  return j.dump();
}

GuestSpec guest_spec_from_json(std::string_view text) {
  try {
    auto j = nlohmann::json::parse(text);
    GuestSpec s;
    s.argv = j.at("argv").get<std::vector<std::string>>();
    s.env = j.at("env").get<std::vector<std::string>>();
    s.uid = j.at("uid").get<uint32_t>();
    s.gid = j.at("gid").get<uint32_t>();
    s.workdir = j.at("workdir").get<std::string>();
    s.hostname = j.at("hostname").get<std::string>();
    s.layers = j.at("layers").get<unsigned>();
    s.read_only = j.at("read_only").get<bool>();
    for (const auto& sh : j.at("shares"))
      s.shares.push_back({sh.at("tag").get<std::string>(), sh.at("target").get<std::string>(),
                          sh.at("read_only").get<bool>()});
    for (const auto& f : j.at("files"))
      s.files.emplace_back(f.at("target").get<std::string>(), f.at("content").get<std::string>());
    s.cgroup2 = j.value("cgroup2", false);
    s.agent_at = j.value("agent_at", "");
    s.watch_ports = j.value("watch_ports", false);
    s.tty = j.value("tty", false);
    s.rows = j.value("rows", uint16_t{0});
    s.cols = j.value("cols", uint16_t{0});
    s.network = j.value("network", false);
    s.cap_add = j.value("cap_add", std::vector<std::string>{});
    s.cap_drop = j.value("cap_drop", std::vector<std::string>{});
    s.seccomp = j.value("seccomp", std::string("default"));
    if (s.argv.empty()) throw Error("no command");
    if (!s.agent_at.empty() && s.agent_at[0] != '/')
      throw Error("agent_at must be an absolute path");
    if (s.workdir.empty() || s.workdir[0] != '/')
      throw Error("the working directory must be absolute");
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("a malformed guest spec: ") + e.what());
  }
}

}  // namespace coracle::vm
