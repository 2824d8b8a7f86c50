#!/bin/sh
# Open MPI's remote-shell agent for test/distributed-hosts.test.ts. `mpirun --mca plm_rsh_agent
# <this file> --host a:1,b:1 ...` calls it as it would call ssh, "<agent> [options] <host>
# <command>", to start its daemon (orted) on each host that is not this machine; this runs the
# command here instead. So two host names become two "hosts" on this machine: a daemon each, the
# ranks placed by host, and MPI between them over TCP as between machines (docs/distributed.md,
# "Several machines").
# MICROADAM_LAUNCHED_HOST tells the daemon, and the ranks it starts, which host they stand for;
# MICROADAM_RSH_LOG, when set, gets a line "<host> <command>" per call.
# MICROADAM_HOSTS_SHM, when set, gives each host its own folder <it>/<host> for Open MPI's
# shared-memory files (btl_vader_backing_directory), as each machine has its own /dev/shm: they are
# named by the machine's host name and the rank's local rank, so two hosts with the same real
# name would otherwise open each other's segments (a crash at 2 + 2 ranks); and its own session
# directory (orte_tmpdir_base), for the same reason.
while [ $# -gt 0 ]; do
  case "$1" in
    -*) shift ;;
    *) break ;;
  esac
done
host=$1
shift
if [ -n "$MICROADAM_RSH_LOG" ]; then printf '%s %s\n' "$host" "$*" >>"$MICROADAM_RSH_LOG"; fi
MICROADAM_LAUNCHED_HOST=$host
export MICROADAM_LAUNCHED_HOST
if [ -n "$MICROADAM_HOSTS_SHM" ]; then
  mkdir -p "$MICROADAM_HOSTS_SHM/$host" "$MICROADAM_HOSTS_SHM/$host-tmp" || exit 1
  OMPI_MCA_btl_vader_backing_directory=$MICROADAM_HOSTS_SHM/$host
  # The daemon's session directory too (each machine has its own /tmp): it is named by the real
  # host name, so two daemons here would create the same one at once ("File exists" in
  # session_dir.c) and share the files in it.
  OMPI_MCA_orte_tmpdir_base=$MICROADAM_HOSTS_SHM/$host-tmp
  export OMPI_MCA_btl_vader_backing_directory OMPI_MCA_orte_tmpdir_base
fi
exec /bin/sh -c "$*"
