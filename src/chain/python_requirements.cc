#include "chain/python_requirements.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/fs.h"
#include "common/parse.h"

namespace coracle::chain {
namespace {

// Python's own modules: sys.stdlib_module_names of CPython 3.11 (the
// public ones), taken from Debian 12's python3.11.
const std::set<std::string>& standard_library() {
  static const std::set<std::string> kNames = {"abc",
                                               "aifc",
                                               "antigravity",
                                               "argparse",
                                               "array",
                                               "ast",
                                               "asynchat",
                                               "asyncio",
                                               "asyncore",
                                               "atexit",
                                               "audioop",
                                               "base64",
                                               "bdb",
                                               "binascii",
                                               "bisect",
                                               "builtins",
                                               "bz2",
                                               "cProfile",
                                               "calendar",
                                               "cgi",
                                               "cgitb",
                                               "chunk",
                                               "cmath",
                                               "cmd",
                                               "code",
                                               "codecs",
                                               "codeop",
                                               "collections",
                                               "colorsys",
                                               "compileall",
                                               "concurrent",
                                               "configparser",
                                               "contextlib",
                                               "contextvars",
                                               "copy",
                                               "copyreg",
                                               "crypt",
                                               "csv",
                                               "ctypes",
                                               "curses",
                                               "dataclasses",
                                               "datetime",
                                               "dbm",
                                               "decimal",
                                               "difflib",
                                               "dis",
                                               "distutils",
                                               "doctest",
                                               "email",
                                               "encodings",
                                               "ensurepip",
                                               "enum",
                                               "errno",
                                               "faulthandler",
                                               "fcntl",
                                               "filecmp",
                                               "fileinput",
                                               "fnmatch",
                                               "fractions",
                                               "ftplib",
                                               "functools",
                                               "gc",
                                               "genericpath",
                                               "getopt",
                                               "getpass",
                                               "gettext",
                                               "glob",
                                               "graphlib",
                                               "grp",
                                               "gzip",
                                               "hashlib",
                                               "heapq",
                                               "hmac",
                                               "html",
                                               "http",
                                               "idlelib",
                                               "imaplib",
                                               "imghdr",
                                               "imp",
                                               "importlib",
                                               "inspect",
                                               "io",
                                               "ipaddress",
                                               "itertools",
                                               "json",
                                               "keyword",
                                               "lib2to3",
                                               "linecache",
                                               "locale",
                                               "logging",
                                               "lzma",
                                               "mailbox",
                                               "mailcap",
                                               "marshal",
                                               "math",
                                               "mimetypes",
                                               "mmap",
                                               "modulefinder",
                                               "msilib",
                                               "msvcrt",
                                               "multiprocessing",
                                               "netrc",
                                               "nis",
                                               "nntplib",
                                               "nt",
                                               "ntpath",
                                               "nturl2path",
                                               "numbers",
                                               "opcode",
                                               "operator",
                                               "optparse",
                                               "os",
                                               "ossaudiodev",
                                               "pathlib",
                                               "pdb",
                                               "pickle",
                                               "pickletools",
                                               "pipes",
                                               "pkgutil",
                                               "platform",
                                               "plistlib",
                                               "poplib",
                                               "posix",
                                               "posixpath",
                                               "pprint",
                                               "profile",
                                               "pstats",
                                               "pty",
                                               "pwd",
                                               "py_compile",
                                               "pyclbr",
                                               "pydoc",
                                               "pydoc_data",
                                               "pyexpat",
                                               "queue",
                                               "quopri",
                                               "random",
                                               "re",
                                               "readline",
                                               "reprlib",
                                               "resource",
                                               "rlcompleter",
                                               "runpy",
                                               "sched",
                                               "secrets",
                                               "select",
                                               "selectors",
                                               "shelve",
                                               "shlex",
                                               "shutil",
                                               "signal",
                                               "site",
                                               "smtpd",
                                               "smtplib",
                                               "sndhdr",
                                               "socket",
                                               "socketserver",
                                               "spwd",
                                               "sqlite3",
                                               "sre_compile",
                                               "sre_constants",
                                               "sre_parse",
                                               "ssl",
                                               "stat",
                                               "statistics",
                                               "string",
                                               "stringprep",
                                               "struct",
                                               "subprocess",
                                               "sunau",
                                               "symtable",
                                               "sys",
                                               "sysconfig",
                                               "syslog",
                                               "tabnanny",
                                               "tarfile",
                                               "telnetlib",
                                               "tempfile",
                                               "termios",
                                               "textwrap",
                                               "this",
                                               "threading",
                                               "time",
                                               "timeit",
                                               "tkinter",
                                               "token",
                                               "tokenize",
                                               "tomllib",
                                               "trace",
                                               "traceback",
                                               "tracemalloc",
                                               "tty",
                                               "turtle",
                                               "turtledemo",
                                               "types",
                                               "typing",
                                               "unicodedata",
                                               "unittest",
                                               "urllib",
                                               "uu",
                                               "uuid",
                                               "venv",
                                               "warnings",
                                               "wave",
                                               "weakref",
                                               "webbrowser",
                                               "winreg",
                                               "winsound",
                                               "wsgiref",
                                               "xdrlib",
                                               "xml",
                                               "xmlrpc",
                                               "zipapp",
                                               "zipfile",
                                               "zipimport",
                                               "zlib",
                                               "zoneinfo"};
  return kNames;
}

// Import names whose distribution is named otherwise (pipreqs' mapping,
// the common cases).
const std::map<std::string, std::string>& import_to_distribution() {
  static const std::map<std::string, std::string> kMap = {
      {"yaml", "PyYAML"},
      {"cv2", "opencv-python"},
      {"PIL", "Pillow"},
      {"sklearn", "scikit-learn"},
      {"skimage", "scikit-image"},
      {"bs4", "beautifulsoup4"},
      {"dateutil", "python-dateutil"},
      {"dotenv", "python-dotenv"},
      {"jwt", "PyJWT"},
      {"serial", "pyserial"},
      {"usb", "pyusb"},
      {"Crypto", "pycryptodome"},
      {"attr", "attrs"},
      {"magic", "python-magic"},
      {"docx", "python-docx"},
      {"pptx", "python-pptx"},
      {"psycopg2", "psycopg2-binary"},
      {"MySQLdb", "mysqlclient"},
      {"flask_sqlalchemy", "Flask-SQLAlchemy"},
      {"flask_cors", "Flask-Cors"},
      {"flask_login", "Flask-Login"},
      {"flask_wtf", "Flask-WTF"},
      {"google", "protobuf"},
      {"grpc", "grpcio"},
      {"jose", "python-jose"},
      {"multipart", "python-multipart"},
      {"socketio", "python-socketio"},
      {"engineio", "python-engineio"},
      {"telegram", "python-telegram-bot"},
      {"discord", "discord.py"},
      {"OpenSSL", "pyOpenSSL"},
      {"nacl", "PyNaCl"},
      {"zmq", "pyzmq"},
      {"git", "GitPython"},
      {"Levenshtein", "python-Levenshtein"},
      {"slugify", "python-slugify"},
      {"fitz", "PyMuPDF"},
      {"win32api", "pywin32"},
      {"RPi", "RPi.GPIO"},
      {"smbus", "smbus2"},
      {"picamera2", "picamera2"},
      {"pkg_resources", "setuptools"},
      {"setuptools", "setuptools"},
  };
  return kMap;
}

bool is_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// The top-level modules one line imports ("import a.b, c as d",
// "from e.f import g"); relative imports are the app's own.
void imports_of_line(std::string line, std::set<std::string>& out) {
  line = trimmed(line.substr(0, line.find('#')));
  auto top = [](const std::string& dotted) { return dotted.substr(0, dotted.find('.')); };
  if (line.rfind("import ", 0) == 0) {
    for (auto part : split(line.substr(7), ',')) {
      part = trimmed(part);
      std::string name = top(trimmed(part.substr(0, part.find(' '))));
      if (is_identifier(name)) out.insert(name);
    }
  } else if (line.rfind("from ", 0) == 0) {
    std::string rest = trimmed(line.substr(5));
    std::string module = rest.substr(0, rest.find(' '));
    if (!module.empty() && module[0] != '.' && is_identifier(top(module))) out.insert(top(module));
  }
}

struct Walk {
  std::set<std::string> imports, own;
  int files = 0;
};

void walk(const std::string& dir, Walk& w) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (auto* e = readdir(d)) names.push_back(e->d_name);
  closedir(d);
  for (const auto& name : names) {
    if (name == "." || name == ".." || w.files > 5000) continue;
    std::string path = dir + "/" + name;
    struct stat st;
    if (lstat(path.c_str(), &st) < 0) continue;  // a symlink is not followed
    if (S_ISDIR(st.st_mode)) {
      if (name[0] == '.' || name == "__pycache__" || name == "venv" || name == "env" ||
          name == "node_modules" || name == "site-packages" || path_exists(path + "/pyvenv.cfg"))
        continue;
      // A package of the app's own (any directory of Python files may be
      // on its path: pipreqs counts every one).
      if (is_identifier(name)) w.own.insert(name);
      walk(path, w);
    } else if (S_ISREG(st.st_mode) && name.size() > 3 &&
               name.compare(name.size() - 3, 3, ".py") == 0) {
      ++w.files;
      w.own.insert(name.substr(0, name.size() - 3));
      if (st.st_size > (1 << 20)) continue;
      std::string text;
      try {
        text = read_file(path);
      } catch (...) {
        continue;
      }
      for (const auto& line : split(text, '\n')) imports_of_line(line, w.imports);
    }
  }
}

}  // namespace

std::string distribution_of(const std::string& import_name) {
  auto it = import_to_distribution().find(import_name);
  return it == import_to_distribution().end() ? import_name : it->second;
}

bool is_distribution_name(const std::string& text) {
  if (text.empty() || text.size() > 100 || !std::isalnum(static_cast<unsigned char>(text[0])))
    return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

std::vector<std::string> guess_requirements(const std::string& app_dir) {
  Walk w;
  walk(app_dir, w);
  std::set<std::string> distributions;
  for (const auto& name : w.imports) {
    if (standard_library().count(name) || w.own.count(name) || name == "__future__") continue;
    std::string dist = distribution_of(name);
    if (is_distribution_name(dist)) distributions.insert(dist);
  }
  return {distributions.begin(), distributions.end()};
}

}  // namespace coracle::chain
