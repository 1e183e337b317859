#include "cli/docs_gen.h"

#include <ctime>
#include <functional>

#include "cli/aliases.h"
#include "common/error.h"

namespace coracle::cli {
namespace {

// One command of the tree: "image pull" and what it takes.
struct Command {
  std::string path;  // "" for coracle itself, "image pull"
  CLI::App* app;
};

std::vector<Command> walk(CLI::App& root) {
  std::vector<Command> out;
  std::function<void(CLI::App*, const std::string&)> visit = [&](CLI::App* a,
                                                                 const std::string& path) {
    out.push_back({path, a});
    for (CLI::App* sub : a->get_subcommands([](CLI::App*) { return true; }))
      visit(sub, path.empty() ? sub->get_name() : path + " " + sub->get_name());
  };
  visit(&root, "");
  return out;
}

std::vector<std::string> subcommand_names(CLI::App* a) {
  std::vector<std::string> out;
  for (CLI::App* sub : a->get_subcommands([](CLI::App*) { return true; }))
    out.push_back(sub->get_name());
  return out;
}

// Every spelling of a command's flags ("-p", "--publish"), and whether it
// takes a value.
struct Flag {
  std::vector<std::string> names;
  std::string description;
  bool takes_value;
};

std::vector<Flag> flags_of(CLI::App* a) {
  std::vector<Flag> out;
  for (const CLI::Option* o : a->get_options()) {
    if (o->get_positional()) continue;
    Flag f{{}, o->get_description(), o->get_items_expected_min() > 0};
    for (const auto& s : o->get_snames()) f.names.push_back("-" + s);
    for (const auto& l : o->get_lnames()) f.names.push_back("--" + l);
    if (!f.names.empty()) out.push_back(f);
  }
  return out;
}

std::string join(const std::vector<std::string>& words, const std::string& sep = " ") {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : sep) + w;
  return out;
}

// Single-quoted for a shell.
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string bash(CLI::App& root) {
  std::string cases, valued, paths;
  for (const auto& c : walk(root)) {
    std::vector<std::string> words = subcommand_names(c.app);
    if (c.path.empty())
      for (const auto& [word, meaning] : alias_table()) words.push_back(word);
    for (const auto& f : flags_of(c.app)) {
      for (const auto& n : f.names) {
        words.push_back(n);
        if (f.takes_value) valued += " " + (c.path.empty() ? "" : c.path + ":") + n;
      }
    }
    cases += "    " + quote(c.path) + ") words=" + quote(join(words)) + " ;;\n";
    paths += " " + quote(c.path);
  }
  return "# bash completion for coracle (generated from its command tree: coracle --generate "
         "bash)\n"
         "_coracle() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
         "  local path='' i w candidate words\n"
         "  local -a paths=(" +
         paths +
         " )\n"
         "  local valued='" +
         valued +
         " '\n"
         "  # The command path so far: each word that extends a known one.\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    w=${COMP_WORDS[i]}\n"
         "    [[ $w == -- ]] && return 0\n"
         "    if [[ $w == -* ]]; then\n"
         "      [[ $w != *=* && ( $valued == *\" ${path:+$path:}$w \"* || $valued == *\" $w \"* ) "
         "]] "
         "&& ((i++))\n"
         "      continue\n"
         "    fi\n"
         "    candidate=${path:+$path }$w\n"
         "    for p in \"${paths[@]}\"; do\n"
         "      if [[ $p == \"$candidate\" ]]; then path=$candidate; break; fi\n"
         "    done\n"
         "  done\n"
         "  # An option's value: files.\n"
         "  if [[ $prev == -* && ( $valued == *\" ${path:+$path:}$prev \"* || $valued == *\" $prev "
         "\"* ) "
         "]]; then\n"
         "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
         "    return 0\n"
         "  fi\n"
         "  case \"$path\" in\n" +
         cases +
         "  esac\n"
         "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
         "  [[ $cur != -* && ${#COMPREPLY[@]} -eq 0 ]] && COMPREPLY=($(compgen -f -- \"$cur\"))\n"
         "  return 0\n"
         "}\n"
         "complete -F _coracle coracle\n";
}

// "name:description" for zsh's _describe, with ':' escaped.
std::string zsh_item(const std::string& name, const std::string& description) {
  std::string d;
  for (char c : description.substr(0, description.find('\n'))) {
    if (c == ':')
      d += "\\:";
    else if (c == '\'')
      d += "'\\''";
    else
      d += c;
  }
  return "'" + name + ":" + d + "'";
}

std::string zsh(CLI::App& root) {
  std::string cases;
  for (const auto& c : walk(root)) {
    std::string subs, opts;
    for (CLI::App* s : c.app->get_subcommands([](CLI::App*) { return true; }))
      subs += " " + zsh_item(s->get_name(), s->get_description());
    if (c.path.empty())
      for (const auto& [word, meaning] : alias_table())
        subs += " " + zsh_item(word, "podman's word for coracle " + meaning);
    for (const auto& f : flags_of(c.app))
      for (const auto& n : f.names) opts += " " + zsh_item(n, f.description);
    cases += "    " + quote(c.path) + ")\n      subs=(" + subs + ")\n      opts=(" + opts +
             ")\n      ;;\n";
  }
  return "#compdef coracle\n"
         "# zsh completion for coracle (generated from its command tree: coracle --generate "
         "zsh)\n"
         "_coracle() {\n"
         "  local path='' w\n"
         "  local -a subs opts\n"
         "  for w in ${words[2,CURRENT-1]}; do\n"
         "    [[ $w == -* ]] && continue\n"
         "    _coracle_words \"${path:+$path }$w\" && path=\"${path:+$path }$w\"\n"
         "  done\n"
         "  _coracle_words \"$path\"\n"
         "  if [[ $PREFIX == -* ]]; then\n"
         "    _describe -t options option opts\n"
         "  elif (( ${#subs} )); then\n"
         "    _describe -t commands command subs\n"
         "  else\n"
         "    _files\n"
         "  fi\n"
         "}\n"
         "# Sets subs and opts for a command path; false for an unknown one.\n"
         "_coracle_words() {\n"
         "  case \"$1\" in\n" +
         cases +
         "    *) return 1 ;;\n"
         "  esac\n"
         "  return 0\n"
         "}\n"
         "_coracle \"$@\"\n";
}

// roff with its special characters escaped.
std::string roff(const std::string& text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (c == '\\')
      out += "\\e";
    else if (c == '-')
      out += "\\-";
    else if ((c == '.' || c == '\'') && line_start)
      out += "\\&" + std::string(1, c);
    else
      out += c;
    line_start = c == '\n';
  }
  return out;
}

std::string man(CLI::App& root, const std::string& version) {
  std::string out =
      ".TH CORACLE 1 \"\" \"coracle " + version +
      "\" \"User Commands\"\n"
      ".SH NAME\ncoracle \\- run OCI images and assistant chains in Linux namespaces, no daemon\n"
      ".SH SYNOPSIS\n.B coracle\n[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] "
      "[\\fIARGS\\fR]\n"
      ".SH DESCRIPTION\n" +
      roff(root.get_description()) +
      ".\nEach command below lists its options; `coracle COMMAND --help` says the same.\n"
      "podman's short forms work too: pull, push, images, rmi, save, load, inspect and version.\n";
  for (const auto& c : walk(root)) {
    if (c.path.empty()) {
      out += ".SH GLOBAL OPTIONS\n";
    } else {
      if (c.path.find(' ') == std::string::npos && c.path == walk(root)[1].path)
        out += ".SH COMMANDS\n";
      out += ".SS \"coracle " + roff(c.path) + "\"\n" + roff(c.app->get_description()) + "\n";
      std::string footer = c.app->get_footer();
      if (!footer.empty()) out += ".PP\n" + roff(footer) + "\n";
    }
    for (const auto& f : flags_of(c.app)) {
      std::vector<std::string> bold;
      for (const auto& n : f.names) bold.push_back("\\fB" + roff(n) + "\\fR");
      out += ".TP\n" + join(bold, ", ") + (f.takes_value ? " \\fIVALUE\\fR" : "") + "\n" +
             roff(f.description) + "\n";
    }
  }
  out +=
      ".SH EXIT STATUS\nThe command's own (exec, and run under builtin:exec); 128+N when it was "
      "killed by signal N; 125 when coracle failed; 126 when the command cannot be executed; "
      "127 when it is not found.\n"
      ".SH ENVIRONMENT\n"
      ".TP\n\\fBCORACLE_ROOT\\fR\nthe store (as \\-\\-root)\n"
      ".TP\n\\fBCORACLE_LOG_LEVEL\\fR\nas \\-\\-log\\-level\n"
      ".TP\n\\fBCORACLE_STORAGE_DRIVER\\fR, \\fBCORACLE_MAX_ENTRY_SIZE\\fR\nas their flags\n"
      ".TP\n\\fBCONTAINERS_REGISTRIES_CONF\\fR\nthe one registries.conf to read\n"
      ".TP\n\\fBREGISTRY_AUTH_FILE\\fR, \\fBDOCKER_CONFIG\\fR\nwhere logins are read\n"
      ".SH FILES\n"
      ".TP\n\\fI/var/lib/coracle\\fR\nthe store as root ($XDG_DATA_HOME/coracle otherwise): an "
      "OCI image layout and the unpacked layers\n"
      ".TP\n\\fI/etc/containers/registries.conf\\fR, "
      "\\fI~/.config/containers/registries.conf\\fR\nmirrors, short names, insecure and blocked "
      "registries, as podman reads them\n"
      ".TP\n\\fI$XDG_RUNTIME_DIR/containers/auth.json\\fR, \\fI~/.docker/config.json\\fR\nregistry "
      "logins and credential helpers\n"
      ".SH SEE ALSO\n\\fBpodman\\fR(1), \\fBcontainers-registries.conf\\fR(5), "
      "\\fBrunc\\fR(8)\n";
  return out;
}

}  // namespace

std::string generate_docs(const std::string& kind, CLI::App& app, const std::string& version) {
  if (kind == "bash") return bash(app);
  if (kind == "zsh") return zsh(app);
  if (kind == "man") return man(app, version);
  throw Error("--generate " + kind + ": use bash, zsh or man");
}

}  // namespace coracle::cli
