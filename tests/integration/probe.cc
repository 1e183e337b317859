// A static helper bound into sandboxes by the integration tests: it reports
// what the sandbox looks like from inside, in lines the tests parse.
#include <fcntl.h>
#include <linux/bpf.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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
  return 2;
}
