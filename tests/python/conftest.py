"""Fixtures: a real strata-node on 127.0.0.1 (free port via --port-file), stopped by PID."""

import os
import subprocess
import threading
import time

import pytest


def _bin_dir():
    d = os.environ.get("STRATA_BIN_DIR")
    if not d:
        d = os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin")
    return os.path.abspath(d)


class Node:
    def __init__(self, tmp, *args):
        self.dir = tmp
        port_file = os.path.join(tmp, "port")
        env = dict(os.environ, UCX_NET_DEVICES="lo")
        self.log = open(os.path.join(tmp, "node.log"), "wb")
        self.proc = subprocess.Popen(
            [os.path.join(_bin_dir(), "strata-node"), "--listen", "127.0.0.1:0",
             "--port-file", port_file, "--metrics-listen", "off", "--ssd", "0",
             "--ssd-dir", os.path.join(tmp, "ssd"), *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.path.exists(port_file) and os.path.getsize(port_file) > 0:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("strata-node exited: " + open(self.log.name).read())
            time.sleep(0.02)
        else:
            self.stop()
            raise RuntimeError("strata-node did not write its port file in 20 s")
        self.port = int(open(port_file).read().strip())
        self.address = f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="session")
def node(tmp_path_factory):
    n = Node(str(tmp_path_factory.mktemp("node")), "--dram", "64MiB")
    yield n
    n.stop()


@pytest.fixture
def small_node(tmp_path):
    """A node of its own (for tests that fill it)."""
    n = Node(str(tmp_path), "--dram", "64MiB")
    yield n
    n.stop()


@pytest.fixture(scope="session")
def client(node):
    import strata
    c = strata.Client(node.address)
    yield c
    c.close()


@pytest.fixture
def ns(request):
    """A namespace of the test's own, so tests sharing the node never see each other's keys."""
    return "test/" + request.node.name.replace("[", ".").replace("]", "")[:100]


@pytest.fixture
def run_in_threads():
    """run(worker, n=4): worker(t) on threads t = 0..n-1 at once; fails with every error raised."""
    def run(worker, n=4, timeout=60):
        errors = []

        def guarded(t):
            try:
                worker(t)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=guarded, args=(t,)) for t in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=timeout)
        assert not any(th.is_alive() for th in threads), "a worker thread did not finish"
        assert not errors, errors
    return run
