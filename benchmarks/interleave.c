// Runs several commands in turn, round after round, and prints each one's
// median and mean wall time: a drift of the machine (other load, caches,
// the hour) falls on all of them alike, which hyperfine's one-command-
// after-another order does not give (on a 2-core VM its order alone moved
// medians by 10-15%), and each round starts one command further on, so that
// no command always follows the same one (the one before still has the
// kernel tearing its namespaces down: up to 4% here). Built static by
// benchmarks/exec_latency.sh.
//   interleave ROUNDS WARMUP 'NAME<TAB>COMMAND ARGS' ...
// Commands are split on spaces (no quoting); stdout and stderr go to
// /dev/null; a command that fails ends the run. Prints CSV lines:
//   name,median_ms,mean_ms
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

enum { kMaxCommands = 32, kMaxArgs = 64 };

struct Command {
  char* name;
  char* argv[kMaxArgs];
  double* ms;
};

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double run(struct Command* c, posix_spawn_file_actions_t* quiet) {
  pid_t pid;
  int status;
  double start = now_ms();
  if (posix_spawn(&pid, c->argv[0], quiet, NULL, c->argv, environ) != 0) {
    fprintf(stderr, "interleave: cannot start %s\n", c->argv[0]);
    exit(1);
  }
  while (waitpid(pid, &status, 0) < 0) {
  }
  double took = now_ms() - start;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "interleave: %s failed\n", c->name);
    exit(1);
  }
  return took;
}

static int by_value(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  if (argc < 4 || argc - 3 > kMaxCommands) {
    fprintf(stderr, "usage: interleave ROUNDS WARMUP 'NAME<TAB>COMMAND ARGS' ...\n");
    return 2;
  }
  int rounds = atoi(argv[1]), warmup = atoi(argv[2]), n = argc - 3;
  struct Command commands[kMaxCommands];
  for (int i = 0; i < n; ++i) {
    struct Command* c = &commands[i];
    char* tab = strchr(argv[i + 3], '\t');
    if (!tab) return 2;
    *tab = 0;
    c->name = argv[i + 3];
    int k = 0;
    for (char* w = strtok(tab + 1, " "); w && k < kMaxArgs - 1; w = strtok(NULL, " ")) c->argv[k++] = w;
    c->argv[k] = NULL;
    c->ms = calloc(rounds, sizeof(double));
    if (k == 0 || !c->ms) return 2;
  }
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
  for (int r = 0; r < warmup; ++r)
    for (int i = 0; i < n; ++i) run(&commands[i], &quiet);
  // Each round starts one command further on: what runs just before a
  // command (the kernel still tearing its namespaces down) changes too.
  for (int r = 0; r < rounds; ++r)
    for (int k = 0; k < n; ++k) {
      int i = (k + r) % n;
      commands[i].ms[r] = run(&commands[i], &quiet);
    }
  for (int i = 0; i < n; ++i) {
    struct Command* c = &commands[i];
    double sum = 0;
    for (int r = 0; r < rounds; ++r) sum += c->ms[r];
    qsort(c->ms, rounds, sizeof(double), by_value);
    double median = rounds % 2 ? c->ms[rounds / 2] : (c->ms[rounds / 2 - 1] + c->ms[rounds / 2]) / 2;
    printf("%s,%.3f,%.3f\n", c->name, median, sum / rounds);
  }
  return 0;
}
