// One rank of test/distributed-hosts.test.ts, started by mpirun on one of two host names that
// test/distributed/local-rsh-agent.sh keeps on this machine. Runs the bit-identity scenario
// (sharded-worker.js, which writes rank-<r>.json) and writes launch-<r>.json: what the launcher
// told this rank about where it runs, its engine threads, and its TCP sockets as they are just
// before MPI closes them (after the scenario's reduce-scatters, which exchange between every pair).
// Usage: mpirun --host ... node hosts-worker.js <out-dir>
"use strict";
const fs = require("fs");
const path = require("path");
const { ProcessGroup } = require("../../dist/distributed");
const { backends, getNumThreads } = require("../../dist");

/** "0100007F:9575" (/proc/net/tcp: IPv4 address in host byte order, port in hex) → "127.0.0.1:38261". */
function endpoint(hex) {
  const [address, port] = hex.split(":");
  const bytes = address.match(/../g).map((b) => parseInt(b, 16)).reverse();
  return { address: bytes.join("."), port: parseInt(port, 16) };
}

/** This process's IPv4 TCP sockets: those listening, and the connections (state ESTABLISHED). */
function tcpSockets() {
  const mine = new Set();
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    let target = "";
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed since the listing
    }
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) mine.add(match[1]);
  }
  const listening = [];
  const connections = [];
  for (const line of fs.readFileSync("/proc/net/tcp", "utf8").trim().split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [local, remote, state, inode] = [fields[1], fields[2], fields[3], fields[9]];
    if (!mine.has(inode)) continue;
    if (state === "0A") listening.push(endpoint(local));
    else if (state === "01") connections.push({ local: endpoint(local), remote: endpoint(remote) });
  }
  return { listening, connections };
}

const dir = process.argv[2];
const env = process.env;
// The first init, so threadsPerRank 'auto' (the default) decides the engine's threads here; the
// scenario's own ProcessGroup.init returns this group.
const group = ProcessGroup.init({ timeoutSeconds: 60 });
const daemonUri = env.OMPI_MCA_orte_local_daemon_uri ?? ""; // "<jobid>.<vpid>;tcp://<address>:<port>"
const launch = {
  rank: group.rank,
  size: group.size,
  launchedHost: env.MICROADAM_LAUNCHED_HOST ?? null,
  localSize: Number(env.OMPI_COMM_WORLD_LOCAL_SIZE),
  localRank: Number(env.OMPI_COMM_WORLD_LOCAL_RANK),
  nodeRank: Number(env.OMPI_COMM_WORLD_NODE_RANK),
  numNodes: Number(env.OMPI_MCA_orte_num_nodes),
  daemon: daemonUri.split(";")[0],
  shmDirectory: env.OMPI_MCA_btl_vader_backing_directory ?? null,
  groupLocalSize: group.localSize,
  engineThreads: getNumThreads(),
  hardwareThreads: backends().cpu.hardwareThreads,
};
const finalize = group.finalize.bind(group);
group.finalize = () => {
  fs.writeFileSync(path.join(dir, `launch-${group.rank}.json`), JSON.stringify({ ...launch, tcp: tcpSockets() }));
  finalize();
};
require("./sharded-worker.js");
