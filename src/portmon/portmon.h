// The port monitor (issue 4). Built so far: sock_diag.h, the kernel's list
// of a network namespace's listening ports and their owners. To come: the
// event-triggered monitor (port.open / port.close), forwarding from the
// host, and the API that builtin:exec uses; it attaches through
// sandbox::Hooks::on_start.
#pragma once
#include "portmon/sock_diag.h"
