"""A small internet on one machine, for egress tests: real hosts, real DNS, real TLS.

`NetLab` builds, with `ip netns` and veth pairs (root only):

- a *world* namespace: where the executor's proxy connects out from (executor setting
  `egress.netns`), with a bridge the hosts hang off. Nothing is routed on the machine
  itself, so tests never touch the host's own network.
- one namespace per test host, each with its own address on the bridge and its own web
  servers (netlab_server.py; HTTP, and HTTPS with a certificate from a test CA);
- a DNS server (Debian's dnsmasq) in a namespace of its own, answering for the test names
  and logging every query it gets.

Public-looking addresses come from 11.22.33.0/24: the proxy refuses private ones unless
granted by exact address, so a "normal" host must have a global address. They exist only
inside these namespaces. Every name carries the creating pid, so parallel workers never
collide, and namespaces left by a dead run are removed on the next start.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PUBLIC_NET = "11.22.33"
API, OTHER, WILD = f"{PUBLIC_NET}.10", f"{PUBLIC_NET}.20", f"{PUBLIC_NET}.30"
METADATA, INTRANET = "169.254.169.254", "10.77.0.5"
HOST_SERVICE_PORT = 8081
WORLD_ADDRESSES = (f"{PUBLIC_NET}.1/24", "169.254.0.1/16", "10.77.0.1/24")
DNS_ADDRESS = f"{PUBLIC_NET}.53"
SERVER_SCRIPT = Path(__file__).with_name("netlab_server.py")
_NETNS_DIR = Path("/run/netns")
_OWNED = re.compile(r"^nx[wh]-(\d+)-")


def available() -> str | None:
    """Why a NetLab cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "nsenter", "dnsmasq"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            return f"needs {tool}"
    return None


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


def _reap_stale() -> None:
    """Remove lab namespaces whose creating process is gone (a crashed earlier run)."""
    if not _NETNS_DIR.is_dir():
        return
    for entry in _NETNS_DIR.iterdir():
        match = _OWNED.match(entry.name)
        if match and not Path("/proc", match.group(1)).exists():
            subprocess.run(["ip", "netns", "del", entry.name], capture_output=True, check=False)


@dataclass
class TestCA:
    """A CA and one server certificate for every test name and address, as PEM files."""

    directory: Path
    ca_dir: Path  # holds ca-certificates.crt: mount it as a sandbox's /etc/ssl/certs
    cert: Path
    key: Path

    @classmethod
    def create(cls, directory: Path, names: list[str], addresses: list[str]) -> TestCA:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nexflow test CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        ca_dir = directory / "certs"
        ca_dir.mkdir(exist_ok=True)
        for path in (directory, ca_dir):
            path.chmod(0o755)
        pem = serialization.Encoding.PEM
        (ca_dir / "ca-certificates.crt").write_bytes(ca.public_bytes(pem))
        (ca_dir / "ca-certificates.crt").chmod(0o644)
        (directory / "server.pem").write_bytes(cert.public_bytes(pem))
        (directory / "server.key").write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        return cls(directory, ca_dir, directory / "server.pem", directory / "server.key")


@dataclass
class Server:
    """One running web server on a test host; `hits()` lists the requests it got."""

    host: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes]

    def hits(self) -> list[str]:
        if not self.log.exists():
            return []
        return [line for line in self.log.read_text().splitlines() if line]


@dataclass
class NetLab:
    """See the module docstring. Use as a context manager."""

    workdir: Path
    tag: str = field(default_factory=lambda: str(os.getpid()))
    hosts: dict[str, str] = field(default_factory=dict)  # host name -> its netns
    servers: list[Server] = field(default_factory=list)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _count: int = 0
    ca: TestCA | None = None
    dns_log: Path | None = None

    @property
    def world(self) -> str:
        return f"nxw-{self.tag}-world"

    @property
    def world_path(self) -> Path:
        return _NETNS_DIR / self.world

    def __enter__(self) -> NetLab:
        _reap_stale()
        self.workdir.mkdir(parents=True, exist_ok=True)
        _run("ip", "netns", "add", self.world)
        try:
            _run("ip", "-n", self.world, "link", "set", "lo", "up")
            _run("ip", "-n", self.world, "link", "add", "br0", "type", "bridge")
            for address in WORLD_ADDRESSES:
                _run("ip", "-n", self.world, "addr", "add", address, "dev", "br0")
            _run("ip", "-n", self.world, "link", "set", "br0", "up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(5)
            if proc.stdout is not None:
                proc.stdout.close()
        for netns in [*self.hosts.values(), self.world]:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)

    def add_host(self, name: str, cidr: str) -> str:
        """A namespace called after `name` with address `cidr` on the world's bridge."""
        self._count += 1
        netns = f"nxh-{self.tag}-{name}"
        veth = f"vh{self._count}"
        _run("ip", "netns", "add", netns)
        self.hosts[name] = netns
        _run("ip", "-n", self.world, "link", "add", veth, "type", "veth",
             "peer", "name", "eth0", "netns", netns)  # fmt: skip
        _run("ip", "-n", self.world, "link", "set", veth, "master", "br0", "up")
        _run("ip", "-n", netns, "link", "set", "lo", "up")
        _run("ip", "-n", netns, "addr", "add", cidr, "dev", "eth0")
        _run("ip", "-n", netns, "link", "set", "eth0", "up")
        return netns

    def _spawn(self, netns: str, argv: list[str], ready: bytes | None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            ["nsenter", f"--net={_NETNS_DIR / netns}", "--", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._procs.append(proc)
        if ready is not None:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if ready not in line:
                rest = proc.stdout.read(2000) if proc.poll() is not None else b""
                raise RuntimeError(f"{argv[0]} did not start: {(line + rest).decode()!r}")
        return proc

    def make_ca(self, names: list[str], addresses: list[str]) -> TestCA:
        self.ca = TestCA.create(self.workdir / "tls", names, addresses)
        return self.ca

    def serve(self, host: str, address: str, port: int, *, tls: bool = False) -> Server:
        """Start a web server on `host` (added before), listening on `address:port`."""
        log = self.workdir / f"hits-{host}-{port}.log"
        argv = [sys.executable, str(SERVER_SCRIPT), host, address, str(port), str(log)]
        if tls:
            assert self.ca is not None, "make_ca first"
            argv += [str(self.ca.cert), str(self.ca.key)]
        netns = self.world if host == "world" else self.hosts[host]
        server = Server(host, port, log, self._spawn(netns, argv, b"ready"))
        self.servers.append(server)
        return server

    def start_dns(self, records: dict[str, str], domains: dict[str, str]) -> None:
        """dnsmasq on DNS_ADDRESS: `records` exact name → address, `domains` a name and
        everything below it → address. Unknown names get NXDOMAIN; every query is logged."""
        netns = self.add_host("dns", f"{DNS_ADDRESS}/24")
        self.dns_log = self.workdir / "dnsmasq.log"
        argv = [
            shutil.which("dnsmasq") or "/usr/sbin/dnsmasq",
            "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
            "--bind-interfaces", f"--listen-address={DNS_ADDRESS}", "--port=53",
            "--log-queries", f"--log-facility={self.dns_log}", "--user=root",
            f"--pid-file={self.workdir / 'dnsmasq.pid'}", "--local=/test/",
        ]  # fmt: skip
        argv += [f"--host-record={name},{address}" for name, address in records.items()]
        argv += [f"--address=/{name}/{address}" for name, address in domains.items()]
        self._spawn(netns, argv, None)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.dns_log.exists() and "started" in self.dns_log.read_text():
                return
            time.sleep(0.05)
        raise RuntimeError("dnsmasq did not start")

    def dns_queries(self) -> str:
        return self.dns_log.read_text() if self.dns_log and self.dns_log.exists() else ""


class World:
    """The egress tests' internet, built in a NetLab: its servers by name.

    api.test (HTTP and HTTPS), other.test, *.wild.test and wild.test on public addresses;
    meta.test on the metadata address, intranet.test on a private one, loop.test on
    loopback, where the world's own "host service" listens.
    """

    def __init__(self, net: NetLab) -> None:
        self.net = net
        net.add_host("api", f"{API}/24")
        net.add_host("other", f"{OTHER}/24")
        net.add_host("wild", f"{WILD}/24")
        net.add_host("meta", f"{METADATA}/16")
        net.add_host("intranet", f"{INTRANET}/24")
        self.ca = net.make_ca(["api.test", "other.test"], [API])
        self.api = net.serve("api", API, 80)
        self.api_tls = net.serve("api", API, 443, tls=True)
        self.other = net.serve("other", OTHER, 80)
        self.wild = net.serve("wild", WILD, 80)
        self.meta = net.serve("meta", METADATA, 80)
        self.intranet = net.serve("intranet", INTRANET, 80)
        self.host_service = net.serve("world", "127.0.0.1", HOST_SERVICE_PORT)
        records = {
            "api.test": API,
            "other.test": OTHER,
            "meta.test": METADATA,
            "loop.test": "127.0.0.1",
            "intranet.test": INTRANET,
        }
        net.start_dns(records, {"wild.test": WILD})

    def executor_egress(self) -> dict[str, Any]:
        """Executor `egress` settings that connect out from this world."""
        return {
            "netns": str(self.net.world_path),
            "nameservers": [DNS_ADDRESS],
            "ca_dir": str(self.ca.ca_dir),
        }
