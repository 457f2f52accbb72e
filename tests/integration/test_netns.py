"""The namespace harness itself (netns.py): hosts reach each other and the test process,
a partition cuts exactly one host off, two networks at once get distinct subnets and
cannot see each other, teardown leaves nothing, leftovers of dead runs are removed (and
only those), and the harness says why when namespaces are out of reach."""
import os
import subprocess

import pytest

import netns

PROBE = "import socket,sys; s=socket.socket(); s.settimeout(1); print(s.connect_ex((sys.argv[1], 9)))"


def reaches(source, target_address):
    """Whether `source` gets an answer (a refusal counts) from target_address:9."""
    result = source.run(["/usr/bin/python3", "-c", PROBE, target_address])
    return result.stdout.strip() == "111"  # ECONNREFUSED: the host is there


def test_hosts_reach_each_other_and_partition_cuts_one_off(network):
    a, b, c = (network.add_host(name) for name in "abc")
    assert len({a.address, b.address, c.address, network.observer_address}) == 4
    assert all(ip in network.subnet for ip in map(netns.ipaddress.ip_address, (a.address, b.address)))
    assert reaches(a, b.address) and reaches(b, c.address) and network.wait_reachable(a)
    a.partition()
    assert not reaches(b, a.address) and not reaches(a, c.address)
    assert reaches(b, c.address)  # the others still talk
    assert reaches(a, a.address)  # a host keeps its own address
    assert not network.wait_reachable(a, timeout=0.5)
    a.heal()
    assert reaches(b, a.address) and network.wait_reachable(a)
    with pytest.raises(ValueError):
        network.add_host("a")


def test_two_networks_are_separate_and_leave_nothing(network):
    a = network.add_host("a")
    with netns.Network() as other:
        x = other.add_host("x")
        assert other.subnet != network.subnet
        assert reaches(x, x.address) and not reaches(x, a.address)
        assert not reaches(a, x.address)
        names = list(other.created)
    assert other.leftovers() == []
    assert not set(names) & set(netns.namespaces())


def test_stale_namespaces_of_dead_runs_are_removed(network):
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid now names no process
    stale = "%s%d-1-sw" % (netns.PREFIX, dead.pid)
    live = "%s%d-99-sw" % (netns.PREFIX, os.getpid())
    for name in (stale, live):
        netns.ip("netns", "add", name)
    try:
        removed = netns.remove_stale()
        assert stale in removed and live not in removed
        assert live in netns.namespaces() and stale not in netns.namespaces()
    finally:
        for name in (stale, live):
            netns.ip("netns", "delete", name, check=False)


def test_unavailable_without_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    available, why = netns.network_available()
    assert not available and "root" in why
