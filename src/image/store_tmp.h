// ROOT/tmp: work in progress, each entry named PURPOSE-PID-N after the
// process that made it (a pull's blob, a build's RUN dir, a run's writable
// layer, a chain's workspace), so that what a dead process left is known
// by its name and swept.
//
// A run's writable layer (PURPOSE "upper") goes another way: deleting and
// making a dozen entries on ext4 costs ~0.5 ms of journal work, which no
// exec should wait for. Its directory stays locked (flock) while the run
// uses it; once released, the store's reaper (one low-priority process at
// a time per store, a child of the run that found none) empties it into a
// spare for a later run, or removes it, and exits when nothing has come for
// a while.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace coracle::image {

// "PURPOSE-PID-N" for this process, unique within it.
std::string tmp_entry_name(const std::string& purpose);
// The pid in "PURPOSE-PID-N", or 0 (a purpose may hold dashes).
pid_t tmp_entry_owner(const char* name);
// The entries of tmp whose process has died (of one purpose, or all).
std::vector<std::string> dead_tmp_entries(const std::string& tmp, const std::string& purpose = "");

// A fresh, empty directory ROOT/tmp/PURPOSE-PID-N, without opening the
// store: the root and tmp/ are made if missing (0700).
std::string make_store_tmp_dir(const std::string& root, const std::string& purpose);

// A directory for a run's writable layer, ROOT/tmp/upper-PID-N: a spare
// (one the reaper emptied after an earlier run, its upper and work dirs
// kept) when there is one, else a new one; locked (flock) through lock,
// which the caller holds while the run uses it. Starts the store's reaper
// when none runs (start_reaper_for_a_run). Throws coracle::Error.
struct ClaimedDir {
  std::string path;
  UniqueFd lock;
};
ClaimedDir claim_layer_dir(const std::string& root);

// Removes what dead processes left under ROOT/tmp (a killed build's RUN
// dir, a killed pull's partial blob): one directory read when there is
// nothing to remove. Run layers are left to the reaper (started here when
// there are some and no reaper runs). Store's constructor calls it; the
// CLI, at the start of every command (one that opens no store too).
void sweep_dead_tmp(const std::string& root);

// Starts the store's reaper unless one runs (an open and a flock when one
// does): a child of the caller, named coracle-reaper, at nice 19, holding
// no fd of the caller's, that makes every run layer no one holds locked a
// spare (up to four) or removes it, and removes every dead entry, at once
// when a run releases its layer (it calls this), until nothing has come
// for two seconds; then it removes the spares but one and exits. Returns
// once the reaper holds no copy of the caller's fds (its locks are free,
// its stdout's reader sees EOF when it exits).
// False when no reaper runs and none could be started (then the caller
// removes what it would have left to it).
bool reap_tmp_in_background(const std::string& root);

// The same at a run's start, without waiting for the child to close its
// copies of the caller's fds (reap_tmp_in_background waits for that at the
// release, by which time it has): a run after a quiet while pays the fork
// at its start instead of the fork and a hand-off between cores at its end.
void start_reaper_for_a_run(const std::string& root);

}  // namespace coracle::image
