// The assistant chain (issue 6): Ayup-compatible state dir, assistant names,
// the step loop and the builtins. Not built yet; this header marks the
// module's place in the tree and its rule: it calls sandbox, image and
// portmon and makes no syscalls of its own.
#pragma once
