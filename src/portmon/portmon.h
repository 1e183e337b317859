// The port monitor (issue 4): netlink sock_diag queries inside a sandbox's
// network namespace, port events and host→sandbox forwarding. Not built yet;
// it will attach through sandbox::Hooks::on_start.
#pragma once
