// Several machines, simulated on this one (docs/distributed.md, "Several machines"): mpirun is
// given two host names that are not this machine and, as its remote shell, a script that runs
// the command here instead of over ssh (test/distributed/local-rsh-agent.sh). Open MPI then does
// what it does across machines: a daemon per host started through the agent, the ranks placed by
// host, MPI between hosts over TCP (shared memory only inside a host). Checked from inside the
// ranks, then ShardedMicroAdam's bit identity across the two hosts.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expectBitIdentical, readRankFiles } from "./distributed/bit-identity";
import { mpiMissing, mpirun, root, type MpiRun } from "./distributed/mpi";

const missing = mpiMissing();
if (missing) console.warn(`SKIPPED: multi-host distributed tests: ${missing}`);
const withMpi = missing ? describe.skip : describe;

const [A, B] = ["microadam-host-a", "microadam-host-b"];
/** The machine mpirun runs on: it starts the ranks here itself, without a daemon or the agent. */
const HERE = "localhost";
/** Where the ranks go: [host, ranks there] in rank order. */
type Placement = [string, number][];
const agent = path.join(root, "test", "distributed", "local-rsh-agent.sh");
const worker = path.join(root, "test", "distributed", "hosts-worker.js");
// The ranks' TCP ports (the BTL's listening ports): a range of 100 at a base that differs between
// runs, below Linux's ephemeral ports, so that concurrent runs rarely meet.
const PORT_RANGE = 100;
const portBase = 20000 + PORT_RANGE * Math.floor(Math.random() * 100);

interface Endpoint {
  address: string;
  port: number;
}
/** What hosts-worker.js wrote for its rank (launch-<r>.json). */
interface Launch {
  rank: number;
  size: number;
  launchedHost: string | null;
  localSize: number;
  localRank: number;
  numNodes: number;
  daemon: string;
  shmDirectory: string | null;
  groupLocalSize: number;
  engineThreads: number;
  hardwareThreads: number;
  tcp: { listening: Endpoint[]; connections: { local: Endpoint; remote: Endpoint }[] };
}

interface HostsRun {
  run: MpiRun;
  /** The hosts the agent was called for, one entry per call, and what it ran there. */
  agentCalls: { host: string; command: string }[];
  launches: Launch[];
  dir: string;
}

/** mpirun of hosts-worker.js placed on hosts (--host, or a --hostfile), through the local agent. */
async function runOnHosts(placement: Placement, btl: string | undefined, hostsBy: "--host" | "--hostfile" = "--host"): Promise<HostsRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-hosts-"));
  const log = path.join(dir, "agent.log");
  // Each host's own folder for shared-memory files (see local-rsh-agent.sh), in /dev/shm where there is one.
  const shm = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "microadam-hosts-shm-"));
  const size = placement.reduce((a, [, n]) => a + n, 0);
  const hostfile = path.join(dir, "hosts");
  fs.writeFileSync(hostfile, placement.map(([host, n]) => `${host} slots=${n}\n`).join(""));
  const mpiArgs = [
    hostsBy === "--host" ? ["--host", placement.map(([host, n]) => `${host}:${n}`).join(",")] : ["--hostfile", hostfile],
    ["--mca", "plm_rsh_agent", agent],
    // Loopback only, for the daemons' connections and the ranks' (Open MPI's TCP transport leaves
    // out 127.0.0.0/8 by default, and this machine may have no other interface).
    ["--mca", "oob_tcp_if_include", "lo"],
    ["--mca", "btl_tcp_if_include", "lo"],
    ["--mca", "btl_tcp_port_min_v4", String(portBase)],
    ["--mca", "btl_tcp_port_range_v4", String(PORT_RANGE)],
    btl === undefined ? [] : ["--mca", "btl", btl],
  ].flat();
  const run = await mpirun(size, worker, [dir], { mpiArgs, env: { MICROADAM_RSH_LOG: log, MICROADAM_HOSTS_SHM: shm }, timeoutMs: 120_000 });
  fs.rmSync(shm, { recursive: true, force: true });
  const agentCalls = fs.existsSync(log)
    ? fs
        .readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((line) => ({ host: line.slice(0, line.indexOf(" ")), command: line.slice(line.indexOf(" ") + 1) }))
    : [];
  const launches: Launch[] = [];
  for (let r = 0; r < size; r++) {
    const file = path.join(dir, `launch-${r}.json`);
    if (fs.existsSync(file)) launches.push(JSON.parse(fs.readFileSync(file, "utf8")));
  }
  return { run, agentCalls, launches, dir };
}

const inBtlRange = (port: number) => port >= portBase && port < portBase + PORT_RANGE;

/** The pairs of ranks joined by a TCP connection of the BTL, "i-j" with i < j, each seen from both ends. */
function tcpPairs(launches: Launch[]): string[] {
  // Each rank's BTL listens on one port of the range; a connection's connecting end has that port as its remote.
  const owner = new Map<number, number>();
  for (const l of launches) {
    const ports = l.tcp.listening.filter((e) => inBtlRange(e.port));
    if (ports.length !== 1) throw new Error(`rank ${l.rank} listens on ${ports.length} ports in the BTL's range ${portBase}+${PORT_RANGE}: ${JSON.stringify(l.tcp.listening)}`);
    owner.set(ports[0].port, l.rank);
  }
  const pairs = new Set<string>();
  for (const l of launches)
    for (const c of l.tcp.connections) {
      const peer = owner.get(c.remote.port);
      if (peer === undefined || peer === l.rank) continue;
      // The accepting end: the peer's socket from its BTL port to this one's port.
      const accepted = launches[peer].tcp.connections.some((p) => p.local.port === c.remote.port && p.remote.port === c.local.port);
      if (!accepted) throw new Error(`rank ${l.rank}'s connection ${c.local.port} → ${c.remote.port} has no end in rank ${peer}`);
      pairs.add([l.rank, peer].sort((a, b) => a - b).join("-"));
    }
  return [...pairs].sort();
}

/** Everything the launcher and the transport show: which host each rank is on, and who talks over TCP. */
function expectHosts(result: HostsRun, placement: Placement, tcpBetween: "all pairs" | "hosts"): void {
  const { agentCalls, launches } = result;
  const slots = placement.map(([, n]) => n);
  const size = slots.reduce((a, b) => a + b, 0);
  // One daemon (orted) per host but mpirun's own, started through the agent: mpirun took none of
  // the names for this machine.
  expect(agentCalls.map((c) => c.host).sort()).toEqual(placement.map(([host]) => host).filter((host) => host !== HERE));
  agentCalls.forEach((c) => expect(c.command).toMatch(/(^|\s)orted\s/));
  expect(launches.map((l) => l.rank)).toEqual(Array.from({ length: size }, (_, r) => r));
  // Ranks fill the hosts in order (Open MPI's default: by slot).
  const hostOf = slots.flatMap((n, h) => Array<number>(n).fill(h));
  const daemons = new Set<string>();
  for (const l of launches) {
    const h = hostOf[l.rank];
    const host = placement[h][0];
    const localRank = l.rank - slots.slice(0, h).reduce((a, b) => a + b, 0);
    const threads = slots[h] === 1 ? l.hardwareThreads : Math.max(1, Math.floor(l.hardwareThreads / slots[h]));
    expect({ rank: l.rank, host: l.launchedHost, shm: path.basename(l.shmDirectory ?? ""), localSize: l.localSize, localRank: l.localRank, nodes: l.numNodes, groupLocalSize: l.groupLocalSize, engineThreads: l.engineThreads }).toEqual({
      rank: l.rank,
      host: host === HERE ? null : host, // mpirun's own ranks did not come through the agent
      shm: host === HERE ? "" : host,
      localSize: slots[h],
      localRank,
      nodes: slots.length,
      groupLocalSize: slots[h], // threadsPerRank 'auto' reads the launcher's local size ...
      engineThreads: threads, // ... and gives a rank alone on its host every hardware thread
    });
    expect(l.hardwareThreads).toBe(os.cpus().length);
    // The same daemon for the ranks of a host, another for each host (mpirun itself, vpid 0, here).
    expect(l.daemon).toBe(launches[hostOf.indexOf(h)].daemon);
    if (host === HERE) expect(l.daemon).toMatch(/\.0$/);
    daemons.add(l.daemon);
  }
  expect(daemons.size).toBe(slots.length);
  // TCP between the ranks: between every pair when TCP is the only transport, else exactly
  // between ranks on different hosts (shared memory inside one).
  const expected: string[] = [];
  for (let i = 0; i < size; i++)
    for (let j = i + 1; j < size; j++) if (tcpBetween === "all pairs" || hostOf[i] !== hostOf[j]) expected.push(`${i}-${j}`);
  expect(tcpPairs(launches)).toEqual(expected.sort());
}

withMpi("two hosts on this machine (mpirun --host through a local remote-shell agent)", () => {
  const layouts: { placement: Placement; btl: string | undefined; tcpBetween: "all pairs" | "hosts"; what: string; hostsBy?: "--hostfile" }[] = [
    { placement: [[A, 1], [B, 1]], btl: "tcp,self", tcpBetween: "all pairs", hostsBy: "--hostfile", what: "one rank per host (a --hostfile), TCP only (--mca btl tcp,self)" },
    { placement: [[A, 2], [B, 1]], btl: undefined, tcpBetween: "hosts", what: "2 + 1 ranks, Open MPI's choice of transport: shared memory inside host a, TCP between the hosts" },
    { placement: [[A, 2], [B, 2]], btl: undefined, tcpBetween: "hosts", what: "2 + 2 ranks, shared memory inside each host, TCP between them" },
    { placement: [[HERE, 2], [B, 1]], btl: undefined, tcpBetween: "hosts", what: "2 ranks on mpirun's own machine + 1 on another host" },
  ];
  for (const { placement, btl, tcpBetween, what, hostsBy } of layouts) {
    const size = placement.reduce((a, [, n]) => a + n, 0);
    test(`world size ${size}, ${what}: a daemon per host, each rank's host and local size as placed, TCP where expected, and ShardedMicroAdam bit-identical to one process`, async () => {
      const result = await runOnHosts(placement, btl, hostsBy);
      try {
        if (result.run.code !== 0) throw new Error(`mpirun exited with ${result.run.code}\n--- stdout\n${result.run.stdout}\n--- stderr\n${result.run.stderr}`);
        expectHosts(result, placement, tcpBetween);
        expectBitIdentical(readRankFiles(result.dir, size), size);
      } finally {
        fs.rmSync(result.dir, { recursive: true, force: true });
      }
    });
  }

  test("shared memory only (--mca btl vader,self): two ranks on one host run, one on each host cannot reach each other, as on two machines", async () => {
    const oneHost = await runOnHosts([[A, 2]], "vader,self");
    try {
      if (oneHost.run.code !== 0) throw new Error(`mpirun exited with ${oneHost.run.code}\n--- stderr\n${oneHost.run.stderr}`);
      expect(oneHost.agentCalls.map((c) => c.host)).toEqual([A]);
      expect(oneHost.launches.map((l) => [l.launchedHost, l.localSize])).toEqual([
        [A, 2],
        [A, 2],
      ]);
      // No TCP transport at all: nothing listens on the BTL's ports.
      oneHost.launches.forEach((l) => expect(l.tcp.listening.filter((e) => inBtlRange(e.port))).toEqual([]));
      expectBitIdentical(readRankFiles(oneHost.dir, 2), 2);
    } finally {
      fs.rmSync(oneHost.dir, { recursive: true, force: true });
    }
    const twoHosts = await runOnHosts([[A, 1], [B, 1]], "vader,self");
    try {
      expect(twoHosts.run.code).not.toBe(0);
      const said = twoHosts.run.stderr + twoHosts.run.stdout;
      expect(said).toMatch(/At least one pair of MPI processes are unable to reach each other/);
      expect(said).toMatch(/is on host: microadam-host-[ab]\b/);
      expect(twoHosts.agentCalls.map((c) => c.host).sort()).toEqual([A, B]);
    } finally {
      fs.rmSync(twoHosts.dir, { recursive: true, force: true });
    }
  });
});
