// A static helper bound into sandboxes by the integration tests: it reports
// what the sandbox looks like from inside, in lines the tests parse.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static void report(const char* name, long rc) {
  printf("%s %s\n", name, rc == 0 ? "OK" : strerrorname_np(errno));
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  if (!strcmp(argv[1], "syscalls")) {
    report("mount", mount("none", "/tmp", "tmpfs", 0, nullptr));
    report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
    union bpf_attr attr {};
    report("bpf", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr) < 0 ? -1 : 0);
    report("unshare_user", unshare(CLONE_NEWUSER));
    report("ptrace_init", ptrace(PTRACE_ATTACH, 1, nullptr, nullptr));
    report("clone_newns", syscall(SYS_unshare, CLONE_NEWNS));
    return 0;
  }
  if (!strcmp(argv[1], "fds")) {
    for (int fd = 3; fd < 4096; ++fd)
      if (fcntl(fd, F_GETFD) >= 0) printf("fd %d\n", fd);
    printf("done\n");
    return 0;
  }
  if (!strcmp(argv[1], "alloc") && argc > 2) {
    size_t mb = strtoul(argv[2], nullptr, 10);
    for (size_t i = 0; i < mb; ++i) {
      char* p = static_cast<char*>(malloc(1 << 20));
      if (!p) return 3;
      memset(p, 1, 1 << 20);
    }
    printf("allocated %zu MiB\n", mb);
    return 0;
  }
  if (!strcmp(argv[1], "fork") && argc > 2) {
    int want = atoi(argv[2]), got = 0;
    std::vector<pid_t> kids;
    for (int i = 0; i < want; ++i) {
      pid_t p = fork();
      if (p == 0) {
        pause();
        _exit(0);
      }
      if (p < 0) break;
      kids.push_back(p);
      ++got;
    }
    printf("forked %d\n", got);
    for (pid_t p : kids) kill(p, SIGKILL);
    for (pid_t p : kids) waitpid(p, nullptr, 0);
    return 0;
  }
  if (!strcmp(argv[1], "connect") && argc > 3) {
    // connect tcp HOST PORT | connect abstract NAME: can this sandbox reach it?
    int fd;
    long rc;
    if (!strcmp(argv[2], "abstract")) {
      fd = socket(AF_UNIX, SOCK_STREAM, 0);
      struct sockaddr_un a {};
      a.sun_family = AF_UNIX;
      size_t n = strlen(argv[3]);
      if (n + 1 > sizeof a.sun_path) return 2;
      memcpy(a.sun_path + 1, argv[3], n);  // a leading NUL: the abstract namespace
      rc = connect(fd, reinterpret_cast<sockaddr*>(&a),
                   static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + n));
    } else {
      if (argc < 5) return 2;
      fd = socket(AF_INET, SOCK_STREAM, 0);
      struct sockaddr_in a {};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(atoi(argv[4])));
      inet_pton(AF_INET, argv[3], &a.sin_addr);
      // A short wait: an unreachable address must not hang the test.
      struct timeval tv {
        2, 0
      };
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    report("connect", rc);
    return 0;
  }
  if (!strcmp(argv[1], "plant") && argc > 2) {
    // Tries every way of leaving a privilege-raising file in argv[2]: a
    // setuid/setgid bit at creation or by chmod, a file capability.
    char path[512];
    auto at = [&](const char* name) {
      snprintf(path, sizeof path, "%s/%s", argv[2], name);
      return path;
    };
    int dir = open(argv[2], O_PATH | O_DIRECTORY);
    report("creat", creat(at("creat"), 04755) < 0 ? -1 : 0);
    report("open", open(at("open"), O_CREAT | O_WRONLY, 04755) < 0 ? -1 : 0);
    report("openat", openat(dir, "openat", O_CREAT | O_WRONLY, 06755) < 0 ? -1 : 0);
    report("tmpfile", open(argv[2], O_TMPFILE | O_WRONLY, 04755) < 0 ? -1 : 0);
    report("mknod", mknod(at("mknod"), S_IFREG | 04755, 0));
    report("mknodat", mknodat(dir, "mknodat", S_IFREG | 02755, 0));
    struct open_how how {};
    how.flags = O_CREAT | O_WRONLY;
    how.mode = 04755;
    report("openat2", syscall(SYS_openat2, dir, "openat2", &how, sizeof how) < 0 ? -1 : 0);
    int fd = open(at("plain"), O_CREAT | O_WRONLY, 0755);
    report("chmod", chmod(at("plain"), 04755));
    report("fchmod", fchmod(fd, 02755));
    report("fchmodat", fchmodat(dir, "plain", 06755, 0));
    report("fchmodat2", syscall(452, dir, "plain", 04755, 0));
    mkdir(at("dir"), 0755);
    report("chmod_dir", chmod(at("dir"), 02755));
    // A v2 file capability: CAP_SETUID permitted and effective.
    struct vfs_cap_data cap {};
    cap.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
    cap.data[0].permitted = 1u << CAP_SETUID;
    report("setcap", setxattr(at("plain"), "security.capability", &cap, XATTR_CAPS_SZ_2, 0));
    report("unshare_user", unshare(CLONE_NEWUSER));
    return 0;
  }
  return 2;
}
