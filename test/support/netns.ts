import { execFileSync } from 'node:child_process'

/**
 * A host behind NAT, as far as the network goes: a network namespace of its own joined to this
 * machine by a veth pair, whose firewall drops every connection that comes in and lets its own
 * out. Only the test's own addresses are used (10.213.N.0/30, made here and removed after).
 */
export interface NatHost {
  name: string
  /** This machine's address on the pair, which the host behind NAT reaches out to. */
  gateway: string
  /** The host's own address: nothing reaches it from outside. */
  address: string
  remove(): void
}

const ip = (...args: string[]) =>
  execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

export function makeNatHost(tag: string): NatHost {
  const name = `berth-${tag}`
  const subnet = 1 + Math.floor(Math.random() * 250)
  const gateway = `10.213.${subnet}.1`
  const address = `10.213.${subnet}.2`
  const outside = `bv${tag}o`.slice(0, 15)
  const inside = `bv${tag}i`.slice(0, 15)
  const inNs = (...args: string[]) => ip('netns', 'exec', name, ...args)
  const remove = () => {
    for (const args of [
      ['netns', 'del', name],
      ['link', 'del', outside],
    ]) {
      try {
        ip(...args)
      } catch {
        // not made, or gone with the namespace (which takes its end of the pair, and so the pair)
      }
    }
  }
  try {
    ip('netns', 'add', name)
    ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside)
    ip('link', 'set', inside, 'netns', name)
    ip('addr', 'add', `${gateway}/30`, 'dev', outside)
    ip('link', 'set', outside, 'up')
    inNs('ip', 'addr', 'add', `${address}/30`, 'dev', inside)
    inNs('ip', 'link', 'set', inside, 'up')
    inNs('ip', 'link', 'set', 'lo', 'up')
    inNs('ip', 'route', 'add', 'default', 'via', gateway)
    // Inbound dropped: only what answers the host's own connections comes in.
    inNs('iptables', '-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT')
    inNs('iptables', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT')
    inNs('iptables', '-P', 'INPUT', 'DROP')
  } catch (err) {
    remove()
    throw err
  }
  return { name, gateway, address, remove }
}
