// Ports for servers whose address must be known before they start (a provider's callback URLs,
// etcd's peer URL). Port 0 picks from the kernel's ephemeral range, where every outgoing
// connection also takes its local port: under load, a port "free a moment ago" is soon some
// client's. These come from below that range (Linux: 32768–60999), checked bindable, and are
// never handed out twice by one process.
import { once } from 'node:events';
import { createServer } from 'node:net';

const LOW = 10_000;
const HIGH = 32_000;
const handedOut = new Set<number>();

async function bindable(port: number): Promise<boolean> {
  const server = createServer();
  server.listen(port, '127.0.0.1');
  try {
    await once(server, 'listening');
  } catch {
    return false;
  }
  await new Promise((resolve) => server.close(resolve));
  return true;
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('No free port below the ephemeral range');
}

export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  return ports;
}
