"""nat_netns.py: a small internet of network namespaces with NAT routers,
for test_nat.py (docs/NAT.md).

    lab = NatLab.create()                 # the "internet": a bridge in the
                                          # server's namespace, 203.0.113.1/24
    home = lab.add_router("masquerade")   # a home router: WAN 203.0.113.N,
                                          # LAN 198.18.K.1/24 behind nftables
    alice = lab.add_host(home)            # a machine on that LAN, 198.18.K.M
    lab.start(ctx, alice, "alice", args)  # udpchat inside alice's namespace
    ...
    lab.delete()                          # every namespace, idempotent

Every router drops what comes in from the WAN unasked, in its input chain
as home routers' firewalls do; dropped there, such a datagram leaves no
connection-tracking entry behind (an entry for it would make the router
give its client's next flow to that peer another source port, and hole
punching would then fail where a real router lets it work).

Router modes (nftables in the router's namespace, `table ip udpchat_nat`):
  "masquerade"         source NAT to the WAN address, ports kept where free:
                       endpoint-independent mapping; conntrack lets in only
                       replies (address and port dependent filtering), a
                       port-restricted cone NAT in RFC 3489's words.
  "masquerade random"  a random source port per flow: a symmetric NAT
                       (address and port dependent mapping, RFC 4787).

  "firewall"           no NAT: the router forwards, and lets in only what
                       answers a flow its LAN started (a stateful firewall,
                       whose pinholes behave like a port-restricted NAT);
                       its LAN has public addresses, 198.19.K.0/24.
  "firewall6"          the same for IPv6 (the usual IPv6 home router).

Only test-only ranges are used: 203.0.113.0/24 (RFC 5737) for the public
side and 198.18.0.0/15 (RFC 2544) for the LANs; with IPv6 (create(ipv6=True),
routers "firewall6"), 2001:db8::/64 for the public side and 2001:db8:K::/64
for the LANs (RFC 3849). Every namespace is named
udpchat-nat-<pid>-<random>-<role> and deleted by delete(). Without root,
`ip` or `nft`, create() raises lossy_netns.Skip (reported as skipped).
"""

import json
import os
import secrets

from harness import Proc
from lossy_netns import Skip, find_tool, LossyNetns

PUBLIC_PREFIX = "203.0.113."
SERVER_ADDRESS = PUBLIC_PREFIX + "1"
PUBLIC_PREFIX6 = "2001:db8::"
SERVER_ADDRESS6 = PUBLIC_PREFIX6 + "1"

# In the server's namespace: datagrams the public bridge passes from one
# router to another (peer to peer, not to or from the server).
PUBLIC_RULES = """\
table bridge udpchat_pub {
    chain forward {
        type filter hook forward priority 0; policy accept;
        meta l4proto udp counter comment "peer-to-peer"
    }
}
"""

FIREWALL_RULES = """\
table inet udpchat_fw {
    chain forward {
        type filter hook forward priority 0; policy accept;
        iifname "wan" ct state established,related counter accept comment "wan-reply"
        iifname "wan" counter drop comment "wan-unsolicited"
    }
    chain input {
        type filter hook input priority 0; policy accept;
        iifname "wan" meta l4proto udp ct state new counter drop comment "wan-input-dropped"
    }
}
"""

ROUTER_RULES = """\
table ip udpchat_nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" %(masquerade)s
    }
    chain forward {
        type filter hook forward priority 0; policy accept;
        iifname "wan" ct state established,related counter accept comment "wan-reply"
        iifname "wan" counter drop comment "wan-unsolicited"
        iifname "lan" ip daddr %(wan)s counter comment "hairpin"
    }
    chain input {
        type filter hook input priority 0; policy accept;
        iifname "lan" meta l4proto udp ip daddr %(wan)s counter comment "hairpin-input"
        iifname "wan" ct state new counter drop comment "wan-input-dropped"
    }
}
"""


class NatLab:
    """The namespaces of one test: the server's (which holds the public
    bridge), routers and hosts."""

    def __init__(self, ip, nft, ipv6=False):
        self.ip, self.nft, self.ipv6 = ip, nft, ipv6
        self.tag = "udpchat-nat-%d-%s" % (os.getpid(), secrets.token_hex(2))
        self.names = []       # every namespace made, in order
        self.routers = []     # {"ns", "wan", "lan_prefix", "hosts"}
        self.server_ns = None

    # -- building ------------------------------------------------------------

    @classmethod
    def create(cls, ipv6=False):
        if os.geteuid() != 0:
            raise Skip("needs root to create network namespaces (running as uid %d)"
                       % os.geteuid())
        ip, nft = find_tool("ip"), find_tool("nft")
        if ip is None or nft is None:
            raise Skip("not installed: iproute2 (ip) and nftables (nft)")
        self = cls(ip, nft, ipv6)
        try:
            self.server_ns = self._namespace("s")
            self._sh(self.server_ns, "ip link add pub type bridge")
            if ipv6:
                self._sh(self.server_ns, "ip -6 addr add %s/64 dev pub nodad" % SERVER_ADDRESS6)
            else:
                self._sh(self.server_ns, "ip addr add %s/24 dev pub" % SERVER_ADDRESS)
            self._sh(self.server_ns, "ip link set pub up")
            self._run(self._in(self.server_ns, [self.nft, "-f", "-"]), stdin=PUBLIC_RULES)
        except BaseException:
            self.delete()
            raise
        return self

    def add_router(self, mode="masquerade"):
        """A NAT router (or, "firewall" and "firewall6", a router without NAT
        whose firewall lets in only answers) on the public bridge; returns
        its index."""
        index = len(self.routers)
        if mode in ("firewall", "firewall6"):
            return self._add_firewall(index, mode == "firewall6")
        ns = self._namespace("r%d" % index)
        wan = PUBLIC_PREFIX + str(10 + index)
        lan_prefix = "198.18.%d." % index
        outside = "r%dw" % index
        self._run([self.ip, "link", "add", outside, "netns", self.server_ns, "type", "veth",
                   "peer", "name", "wan", "netns", ns])
        self._sh(self.server_ns, "ip link set %s master pub" % outside)
        self._sh(self.server_ns, "ip link set %s up" % outside)
        self._sh(ns, "ip addr add %s/24 dev wan" % wan)
        self._sh(ns, "ip link set wan up")
        self._sh(ns, "ip link add lan type bridge")
        self._sh(ns, "ip addr add %s1/24 dev lan" % lan_prefix)
        self._sh(ns, "ip link set lan up")
        self._sh(ns, "sysctl -q -w net.ipv4.ip_forward=1")
        masquerade = {"masquerade": "masquerade",
                      "masquerade random": "masquerade random"}[mode]
        rules = ROUTER_RULES % {"masquerade": masquerade, "wan": wan}
        self._run(self._in(ns, [self.nft, "-f", "-"]), stdin=rules)
        self.routers.append({"ns": ns, "wan": wan, "lan_prefix": lan_prefix, "hosts": 0})
        return index

    def _add_firewall(self, index, ipv6):
        ns = self._namespace("r%d" % index)
        if ipv6:
            wan, lan_prefix, plen = PUBLIC_PREFIX6 + str(10 + index), "2001:db8:%d::" % (
                index + 1), 64
            family, flags, forwarding = "-6", " nodad", "net.ipv6.conf.all.forwarding=1"
        else:
            wan, lan_prefix, plen = PUBLIC_PREFIX + str(10 + index), "198.19.%d." % index, 24
            family, flags, forwarding = "-4", "", "net.ipv4.ip_forward=1"
        outside = "r%dw" % index
        self._run([self.ip, "link", "add", outside, "netns", self.server_ns, "type", "veth",
                   "peer", "name", "wan", "netns", ns])
        self._sh(self.server_ns, "ip link set %s master pub" % outside)
        self._sh(self.server_ns, "ip link set %s up" % outside)
        self._sh(self.server_ns, "ip %s route add %s0/%d via %s" % (family, lan_prefix, plen, wan))
        self._sh(ns, "ip %s addr add %s/%d dev wan%s" % (family, wan, plen, flags))
        self._sh(ns, "ip link set wan up")
        self._sh(ns, "ip link add lan type bridge")
        self._sh(ns, "ip %s addr add %s1/%d dev lan%s" % (family, lan_prefix, plen, flags))
        self._sh(ns, "ip link set lan up")
        self._sh(ns, "sysctl -q -w " + forwarding)
        self._run(self._in(ns, [self.nft, "-f", "-"]), stdin=FIREWALL_RULES)
        # No NAT: each router routes to the others' LANs over the public side.
        for other in self.routers:
            self._sh(other["ns"], "ip %s route add %s0/%d via %s" % (family, lan_prefix, plen, wan))
            self._sh(ns, "ip %s route add %s0/%d via %s" % (family, other["lan_prefix"], plen,
                                                          other["wan"]))
        self.routers.append({"ns": ns, "wan": wan, "lan_prefix": lan_prefix, "hosts": 0,
                             "ipv6": ipv6})
        return index

    def add_host(self, router):
        """A machine on the LAN of router `router`; returns its namespace."""
        r = self.routers[router]
        r["hosts"] += 1
        n = r["hosts"]
        ns = self._namespace("r%dh%d" % (router, n))
        bridge_side = "h%d" % n
        self._run([self.ip, "link", "add", bridge_side, "netns", r["ns"], "type", "veth",
                   "peer", "name", "eth0", "netns", ns])
        self._sh(r["ns"], "ip link set %s master lan" % bridge_side)
        self._sh(r["ns"], "ip link set %s up" % bridge_side)
        self._sh(ns, "ip link set lo up")
        if r.get("ipv6"):
            self._sh(ns, "ip -6 addr add %s%d/64 dev eth0 nodad" % (r["lan_prefix"], 10 + n))
        else:
            self._sh(ns, "ip addr add %s%d/24 dev eth0" % (r["lan_prefix"], 10 + n))
        self._sh(ns, "ip link set eth0 up")
        self._sh(ns, "ip %s route add default via %s1" % ("-6" if r.get("ipv6") else "-4",
                                                            r["lan_prefix"]))
        return ns

    # -- using ---------------------------------------------------------------

    def start(self, ctx, ns, name, args, kind="process"):
        """Start the udpchat binary with `args` inside namespace `ns`, as one
        of ctx's processes (stopped by ctx.close())."""
        proc = Proc(ctx._unique(name), [self.ip, "netns", "exec", ns, ctx.binary] + list(args),
                    cwd=ctx.tmp, env=ctx.env, timeout=ctx.timeout, echo=ctx.echo, kind=kind)
        ctx.procs.append(proc)
        return proc

    def forget_mappings(self, router):
        """Router `router` forgets every mapping (its connection tracking
        table is flushed), as a router that reboots or times them out."""
        conntrack = find_tool("conntrack")
        if conntrack is None:
            raise Skip("not installed: conntrack")
        self._run(self._in(self.routers[router]["ns"], [conntrack, "-F"]))

    def peer_to_peer(self):
        """UDP datagrams the public side passed between two routers."""
        return self._counters(self.server_ns, "bridge", "udpchat_pub").get("peer-to-peer", 0)

    def counters(self, router):
        """{comment: packets} of the counters of router `router`'s rules."""
        return self._counters(self.routers[router]["ns"], "ip", "udpchat_nat")

    def _counters(self, ns, family, table):
        r = self._run(self._in(ns, [self.nft, "-j", "list", "table", family, table]))
        out = {}
        for item in json.loads(r.stdout).get("nftables", []):
            rule = item.get("rule")
            if rule and rule.get("comment"):
                out[rule["comment"]] = next(
                    (e["counter"]["packets"] for e in rule.get("expr", [])
                     if isinstance(e, dict) and "counter" in e), 0)
        return out

    def delete(self):
        """Delete every namespace made (their links and rules go with them)."""
        errors = []
        for ns in reversed(self.names):
            r = LossyNetns._run([self.ip, "netns", "del", ns])
            if r.returncode != 0:
                errors.append("%s: %s" % (ns, r.stderr.strip()))
        self.names = []
        if errors:
            raise AssertionError("could not delete namespaces: " + "; ".join(errors))

    # -- helpers -------------------------------------------------------------

    def _namespace(self, role):
        name = "%s-%s" % (self.tag, role)
        r = LossyNetns._run([self.ip, "netns", "add", name])
        if r.returncode != 0:
            raise Skip("cannot create network namespace %s: %s" % (name, r.stderr.strip()))
        self.names.append(name)
        self._sh(name, "ip link set lo up")
        return name

    def _in(self, ns, argv):
        return [self.ip, "netns", "exec", ns] + list(argv)

    def _sh(self, ns, command):
        argv = command.split()
        if argv[0] == "ip":
            argv = [self.ip, "-n", ns] + argv[1:]
        else:
            argv = self._in(ns, argv)
        self._run(argv)

    def _run(self, argv, stdin=None):
        r = LossyNetns._run(argv, stdin=stdin)
        if r.returncode != 0:
            raise AssertionError("%s failed: %s" % (" ".join(argv), r.stderr.strip()))
        return r
