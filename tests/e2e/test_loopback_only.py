"""Every server of the local pipeline listens on the loopback interface only.

With the whole stack running, every listening TCP socket (IPv4 and IPv6) owned by this
process (the upload page's server and the local Eventarc run in it) or any process it
started (the Pub/Sub emulator's gcloud and JVM, fake-gcs-server, functions-framework and
its gunicorn workers) is found through /proc: the sockets' inodes from
/proc/PID/fd, their addresses from /proc/PID/net/tcp and tcp6.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from localdev.stack import Stack

_LISTEN = "0A"  # TCP state in /proc/net/tcp


@dataclass(frozen=True)
class Listener:
    pid: int
    command: str
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int

    def __str__(self) -> str:
        return f"{self.command} (pid {self.pid}) on {self.address} port {self.port}"


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat.rpartition(")")[2].split()[1])  # the field after the state
        children.setdefault(parent, []).append(int(entry.name))
    return children


def process_tree(root: int) -> set[int]:
    """``root`` and every process descended from it."""
    children, found, pending = _children(), {root}, [root]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for descriptor in descriptors:
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as /proc/net/tcp{,6} writes it: each 32-bit word of the address, as the
    machine holds it in memory, printed as a hexadecimal number."""
    raw = bytes.fromhex(text)
    words = (int.from_bytes(raw[start : start + 4], "big") for start in range(0, len(raw), 4))
    return ipaddress.ip_address(b"".join(word.to_bytes(4, sys.byteorder) for word in words))


def listening_sockets(pid: int) -> dict[int, tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """inode -> (address, port) of every listening TCP socket in ``pid``'s network namespace."""
    found = {}
    for table in ("tcp", "tcp6"):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state == _LISTEN:
                address, port = local.split(":")
                found[inode] = (_address(address), int(port, 16))
    return found


def listeners(root: int) -> list[Listener]:
    tables = listening_sockets(root)
    result = []
    for pid in sorted(process_tree(root)):
        try:
            command = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        for inode in socket_inodes(pid) & tables.keys():
            address, port = tables[inode]
            result.append(Listener(pid, command, address, port))
    return result


def is_loopback_only(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address in (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def test_address_decoding() -> None:
    assert _address("0100007F") == ipaddress.ip_address("127.0.0.1")
    assert _address("00000000") == ipaddress.ip_address("0.0.0.0")
    assert _address("00000000000000000000000001000000") == ipaddress.ip_address("::1")
    assert _address("0000000000000000FFFF00000100007F") == ipaddress.ip_address("::ffff:127.0.0.1")


def test_every_local_server_listens_on_loopback_only(stack: Stack) -> None:
    if not Path("/proc/self/net/tcp").exists():
        pytest.skip("no /proc/net/tcp on this system, so sockets cannot be listed")
    assert stack.pubsub is not None
    assert stack.gcs is not None
    assert stack.gcs.tls is not None
    assert stack.function is not None
    assert stack.web is not None
    servers = {
        "the Pub/Sub emulator": stack.pubsub.port,
        "fake-gcs-server (HTTP)": stack.gcs.port,
        "fake-gcs-server (HTTPS)": stack.gcs.tls.port,
        "functions-framework": stack.function.port,
        "the upload page": stack.web.port,
    }
    found = listeners(os.getpid())
    ports = {listener.port for listener in found}
    missing = {name: port for name, port in servers.items() if port not in ports}
    assert not missing, f"not found listening: {missing}; found: {[str(f) for f in found]}"
    exposed = [str(listener) for listener in found if not is_loopback_only(listener.address)]
    assert not exposed, f"listening beyond the loopback interface: {exposed}"
    owners = {listener.command for listener in found}
    assert "java" in owners  # the emulator's JVM, a grandchild: the whole tree was searched
