// Test hosts: network namespaces joined to this one by a veth pair, each side with a TEST-NET
// address, for upstreams that must not live on loopback (the API server refuses loopback
// addresses in EndpointSlices). Needs root (CAP_NET_ADMIN) and iproute2.
//
//   const host = await createTestHost();
//   const echo = await host.startEchoServer();      // http://198.51.100.2:8080, say
//   … reach echo.url from this process, over the veth …
//   await host.remove();
//
// Each host takes a /30 of the first TEST-NET /24 (192.0.2.0, 198.51.100.0, 203.0.113.0)
// that this machine's own interfaces and routes leave alone: some machines (this project's
// CI among them) put their real network on 192.0.2.0/24. Slots are claimed with exclusive
// files, so concurrent test runs never share one; a slot whose owner died is reclaimed, its
// namespace and veth deleted. While any host lives, the rest of the block is routed
// `unreachable`: an address with no host behind it (one removed, or not yet up) fails at once
// instead of following the default route off the machine, where a gateway may even answer.
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runInThisContext } from 'node:vm';

const run = promisify(execFile);

export const ECHO_SERVER = join(import.meta.dirname, 'echo-server.ts');

/** The TEST-NET blocks (RFC 5737), in order of preference. */
const TEST_NETS = ['192.0.2', '198.51.100', '203.0.113'] as const;
const SLOTS = 64; // /30s in a /24
/** Our veth names start with this, so our own hosts never make a block look taken. */
const LINK_PREFIX = 'pct';
/** The routing protocol number that marks our `unreachable` route for a block (any unused number would do). */
const GUARD_PROTOCOL = '201';
const SLOT_DIR = join(tmpdir(), 'portcullis-test-hosts');

export interface TestHost {
  /** The network namespace (`ip netns`). */
  readonly name: string;
  /** The test host's address, inside its namespace: what an EndpointSlice points at. */
  readonly address: string;
  /** This process's end of the veth, as the test host sees it. */
  readonly peerAddress: string;
  /** Runs `command` inside the namespace (`ip netns exec`); stopped by remove() if still running. */
  spawn(command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** The repo's echo server (test/support/echo-server.ts) on `address:port`, once it prints its URL. */
  startEchoServer(port?: number): Promise<HostedProcess>;
  /** Stops every process started here and deletes the namespace and the veth pair; idempotent. */
  remove(): Promise<void>;
}

export interface HostedProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

interface Slot {
  readonly file: string;
  readonly subnet: string;
  readonly index: number;
}

interface SlotRecord {
  readonly pid: number;
  readonly bootId: string;
  readonly netns: string;
  readonly link: string;
}

// --- no test host outlives this process --------------------------------------------------------
// The kernel kills what runs inside if this process dies (setpriv, below), and the next run
// reclaims the slot; these handlers also tidy up after a plain exit that skipped remove().

interface Live {
  readonly record: SlotRecord;
  readonly slot: Slot;
  readonly children: Set<ChildProcess>;
}

const live = new Set<Live>();

/** Exit handlers must be synchronous. */
function removeAllSync(): void {
  for (const host of live) {
    for (const child of host.children) child.kill('SIGKILL');
    deleteNetwork(host.record);
    releaseSlot(host.slot);
  }
  live.clear();
}

function track(host: Live): void {
  if (live.size === 0) realProcess().on('exit', removeAllSync);
  live.add(host);
}

function untrack(host: Live): void {
  live.delete(host);
  if (live.size === 0) realProcess().off('exit', removeAllSync);
}

/**
 * The process object that emits 'exit'. Inside a jest test, `process` is a copy with its own
 * listeners that never fire; code run in the main context sees the real one.
 */
function realProcess(): NodeJS.Process {
  return runInThisContext('process') as NodeJS.Process;
}

// --- create ------------------------------------------------------------------------------------

export async function createTestHost(): Promise<TestHost> {
  const subnet = chooseSubnet();
  const runTag = randomBytes(3).toString('hex');
  const { slot, record } = claimSlot(subnet, (index) => ({
    pid: process.pid,
    bootId: bootId(),
    netns: `portcullis-${process.pid}-${index}-${runTag}`,
    link: `${LINK_PREFIX}${index}${runTag}`, // at most 15 characters, as Linux requires
  }));
  const peerAddress = `${subnet}.${slot.index * 4 + 1}`;
  const address = `${subnet}.${slot.index * 4 + 2}`;
  const host: Live = { record, slot, children: new Set() };
  track(host);
  try {
    const { netns, link } = record;
    // `replace`: concurrent runs sharing the block may both add it.
    await ip(['route', 'replace', 'unreachable', `${subnet}.0/24`, 'proto', GUARD_PROTOCOL]);
    await ip(['netns', 'add', netns]);
    // The peer is created inside the namespace, so its name (eth0) cannot clash out here.
    await ip(['link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    await ip(['addr', 'add', `${peerAddress}/30`, 'dev', link]);
    await ip(['link', 'set', link, 'up']);
    await ip(['-n', netns, 'addr', 'add', `${address}/30`, 'dev', 'eth0']);
    await ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', netns, 'link', 'set', 'lo', 'up']);
  } catch (error) {
    removeSync(host);
    throw error;
  }

  let removing: Promise<void> | undefined;

  const spawnInside = (command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess => {
    // `ip netns exec` execs the command itself, so the child's pid is the command's.
    const child = spawn(...withParentDeathSignal('ip', ['netns', 'exec', record.netns, command, ...args]), options);
    host.children.add(child);
    child.once('exit', () => host.children.delete(child));
    return child;
  };

  return {
    name: record.netns,
    address,
    peerAddress,
    spawn: spawnInside,

    async startEchoServer(port = 8080) {
      const child = spawnInside(process.execPath, [ECHO_SERVER, '--port', String(port), '--host', address], { stdio: ['ignore', 'pipe', 'pipe'] });
      const url = await firstLine(child, 'the echo server');
      return { url, child, stop: () => stopChild(child) };
    },

    remove() {
      removing ??= (async () => {
        await Promise.all([...host.children].map(stopChild));
        removeSync(host);
      })();
      return removing;
    },
  };
}

function removeSync(host: Live): void {
  for (const child of host.children) child.kill('SIGKILL');
  deleteNetwork(host.record);
  releaseSlot(host.slot);
  untrack(host);
}

/** Deleting the host's end of the veth deletes the pair at once, whatever still runs inside. */
function deleteNetwork(record: SlotRecord): void {
  for (const args of [['link', 'delete', record.link], ['netns', 'delete', record.netns]]) {
    spawnSync('ip', args, { stdio: 'ignore' });
  }
}

// --- address slots -------------------------------------------------------------------------------

/** The first TEST-NET /24 that no interface or route of this machine (other than ours) overlaps. */
function chooseSubnet(): string {
  const taken = new Set<string>();
  const addresses = JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8' })) as { ifname: string; addr_info?: { local: string; prefixlen: number }[] }[];
  for (const link of addresses) {
    if (link.ifname.startsWith(LINK_PREFIX)) continue;
    for (const info of link.addr_info ?? []) for (const net of TEST_NETS) if (overlaps(`${info.local}/${info.prefixlen}`, net)) taken.add(net);
  }
  const routes = JSON.parse(execFileSync('ip', ['-j', '-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' })) as { dst: string; dev?: string; protocol?: string }[];
  for (const route of routes) {
    if (route.dst === 'default' || route.dev?.startsWith(LINK_PREFIX) || route.protocol === GUARD_PROTOCOL) continue;
    for (const net of TEST_NETS) if (overlaps(route.dst.includes('/') ? route.dst : `${route.dst}/32`, net)) taken.add(net);
  }
  const free = TEST_NETS.find((net) => !taken.has(net));
  if (free === undefined) throw new Error(`Every TEST-NET block (${TEST_NETS.map((n) => `${n}.0/24`).join(', ')}) is in use on this machine; test hosts need one.`);
  return free;
}

/** Whether `cidr` and the /24 `net` share an address. */
function overlaps(cidr: string, net: string): boolean {
  const [address, bits] = cidr.split('/') as [string, string];
  const prefix = Math.min(Number(bits), 24);
  if (prefix === 0) return false;
  const mask = prefix === 32 ? 0xffffffff : ~(0xffffffff >>> prefix) >>> 0;
  return ((toNumber(address) & mask) >>> 0) === ((toNumber(`${net}.0`) & mask) >>> 0);
}

function toNumber(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** The first free /30 of `subnet`, claimed by creating its file exclusively. */
function claimSlot(subnet: string, recordFor: (index: number) => SlotRecord): { slot: Slot; record: SlotRecord } {
  mkdirSync(SLOT_DIR, { recursive: true });
  for (let index = 0; index < SLOTS; index++) {
    const slot = { file: join(SLOT_DIR, `${subnet}.${index * 4}`), subnet, index };
    const record = recordFor(index);
    if (tryCreate(slot.file, record)) return { slot, record };
    const owner = readRecord(slot.file);
    if (owner === null || (owner.bootId === bootId() && alive(owner.pid))) continue;
    // Its owner died without cleaning up: take the slot over.
    deleteNetwork(owner);
    releaseSlot(slot);
    if (tryCreate(slot.file, record)) return { slot, record };
  }
  throw new Error(`All ${SLOTS} test-host slots of ${subnet}.0/24 are taken (see ${SLOT_DIR}).`);
}

function tryCreate(file: string, record: SlotRecord): boolean {
  try {
    writeFileSync(file, JSON.stringify(record), { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

function readRecord(file: string): SlotRecord | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SlotRecord;
  } catch {
    return null; // gone meanwhile, or being written
  }
}

/** Frees the slot; the last one of a block out takes the block's unreachable route with it. */
function releaseSlot(slot: Slot): void {
  try {
    unlinkSync(slot.file);
  } catch {
    // already gone
  }
  if (!readdirSync(SLOT_DIR).some((file) => file.startsWith(`${slot.subnet}.`))) {
    spawnSync('ip', ['route', 'delete', 'unreachable', `${slot.subnet}.0/24`, 'proto', GUARD_PROTOCOL], { stdio: 'ignore' });
  }
}

// --- processes --------------------------------------------------------------------------------------

/** setpriv (util-linux) has the kernel kill the child if this process dies first, however it dies. */
const HAS_SETPRIV = spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0;

function withParentDeathSignal(command: string, args: readonly string[]): [string, string[]] {
  return HAS_SETPRIV ? ['setpriv', ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, [...args]];
}

function firstLine(child: ChildProcess, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (err += text));
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      const newline = out.indexOf('\n');
      if (newline !== -1) resolve(out.slice(0, newline).trim());
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`${what} exited (${code ?? signal}) before printing its URL: ${err.trim()}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function ip(args: readonly string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(' ')} failed: ${stderr || String(error)}${process.getuid?.() === 0 ? '' : ' (test hosts need root)'}`, { cause: error });
  }
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
