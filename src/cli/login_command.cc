// `coracle login REGISTRY` / `coracle logout REGISTRY`: credentials in the
// files docker and podman use (image/credentials.h), checked against the
// registry before they are saved.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "common/error.h"
#include "image/credentials.h"
#include "image/registry.h"

namespace coracle::cli {
namespace {

struct LoginFlags {
  std::string registry, username, password;
  bool password_stdin = false;
  RegistryFlags net;
};

std::string read_line(const char* prompt, bool secret) {
  bool tty = isatty(STDIN_FILENO);
  if (tty) fprintf(stderr, "%s", prompt);
  termios saved{};
  if (tty && secret && tcgetattr(STDIN_FILENO, &saved) == 0) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty && secret) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    fprintf(stderr, "\n");
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

std::function<int()> add_login_command(CLI::App& app, const GlobalOptions&) {
  auto f = std::make_shared<LoginFlags>();
  auto* login = app.add_subcommand("login", "Save credentials for a registry (checked first)");
  login->add_option("registry", f->registry, "e.g. docker.io, ghcr.io, localhost:5000")->required();
  login->add_option("-u,--username", f->username, "User name (asked for when missing)");
  login->add_option("-p,--password", f->password,
                    "Password (visible in the process list: prefer --password-stdin)");
  login->add_flag("--password-stdin", f->password_stdin, "Read the password from stdin");
  add_registry_flags(login, f->net, false);
  auto* logout = app.add_subcommand("logout", "Forget the credentials for a registry");
  logout->add_option("registry", f->registry, "Registry")->required();

  return [f, login, logout]() -> int {
    std::string host = image::registry_host(f->registry);
    if (host.empty()) throw Error("give the registry to log in to, e.g. coracle login ghcr.io");
    if (logout->parsed()) {
      std::string path;
      if (!image::remove_credential(host, path))
        throw Error("not logged in to " + host + " (nothing for it in " + path + ")");
      printf("removed the credentials for %s from %s\n", host.c_str(), path.c_str());
      return 0;
    }
    (void)login;
    image::Credential cred{f->username, f->password};
    if (cred.username.empty()) cred.username = read_line("Username: ", false);
    if (f->password_stdin) {
      std::getline(std::cin, cred.password);
      if (!cred.password.empty() && cred.password.back() == '\r') cred.password.pop_back();
    } else if (cred.password.empty()) {
      cred.password = read_line("Password: ", true);
    }
    if (cred.username.empty() || cred.password.empty())
      throw Error("a user name and a password are needed to log in to " + host);
    image::Reference ref;
    ref.registry = host;
    image::RegistryOptions opt;
    opt.insecure = f->net.insecure;
    opt.ca_file = f->net.ca;
    image::RegistryClient client(ref, opt, cred);
    client.check_login();
    std::string path = image::save_credential(host, cred);
    printf("logged in to %s (credentials saved in %s)\n", host.c_str(), path.c_str());
    return 0;
  };
}

}  // namespace coracle::cli
