# AppArmor profile of the sandbox container, for hosts that run AppArmor (Ubuntu, Debian with it
# enabled). Docker's own profile there forbids mount and pivot_root, which bubblewrap needs to
# build each environment. Load this one once, then name it in compose/.env:
#   sudo apparmor_parser -r -W compose/sandbox/apparmor.profile
#   SANDBOX_APPARMOR=verity-sandbox
# The container's capability set (SETUID, SETGID, KILL) and seccomp profile still apply: this
# profile only adds file-system confinement on top of them.

#include <tunables/global>

profile verity-sandbox flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>

  # the service's own files, programs and gRPC port
  file,
  network,
  signal,
  # bubblewrap: a user namespace per environment, where it holds every capability of that
  # namespace only, mounts a fresh root and pivots into it
  capability,
  mount,
  umount,
  pivot_root,
  ptrace (read, readby, trace, tracedby) peer=verity-sandbox,

  # the kernel's switches and secrets stay out of reach
  deny /proc/sysrq-trigger rwklx,
  deny /proc/kcore rwklx,
  deny /proc/kmem rwklx,
  deny /proc/mem rwklx,
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,
  deny /sys/kernel/debug/** rwklx,
}
