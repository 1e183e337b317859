// The floor of the exec path, for benchmarks/exec_latency.sh: what any
// sandbox runner must pay at least, built static by the script.
//   floor clone PROGRAM  clone() into all seven namespaces (user, mount,
//                        pid, net, ipc, uts, cgroup), exec PROGRAM there,
//                        wait for it
//   floor exec PROGRAM   only exec PROGRAM (a process's own start)
// No ids are mapped, nothing is mounted, no filter is loaded: nothing a
// sandbox needs beyond the namespaces themselves.
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char stack[64 * 1024];
static char* program;

static int child(void* arg) {
  (void)arg;
  char* argv[] = {program, NULL};
  execv(program, argv);
  _exit(127);
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  program = argv[2];
  if (strcmp(argv[1], "exec") == 0) {
    char* args[] = {program, NULL};
    execv(program, args);
    return 127;
  }
  int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
              CLONE_NEWUTS | CLONE_NEWCGROUP | SIGCHLD;
  pid_t pid = clone(child, stack + sizeof stack, flags, NULL);
  if (pid < 0) return 1;
  int status;
  if (waitpid(pid, &status, 0) < 0) return 1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
