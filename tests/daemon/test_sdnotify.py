"""sd_notify over plain sockets: filesystem and abstract-namespace sockets, no-op when unset,
never blocking the caller when the receiver does not read."""

from __future__ import annotations

import os
import socket

from stockbot.sdnotify import SdNotifier, socket_address


def test_unset_or_unusable_socket_is_a_silent_no_op():
    for env in ({}, {"NOTIFY_SOCKET": ""}, {"NOTIFY_SOCKET": "relative/path"}):
        sd = SdNotifier(env)
        assert not sd.enabled and sd.ready() is False and sd.watchdog() is False and sd.sent == []


def test_filesystem_socket_receives_ready_status_watchdog_and_stopping(tmp_path):
    path = f"/tmp/sbn-test-{os.getpid()}.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as rx:
        rx.bind(path)
        try:
            sd = SdNotifier({"NOTIFY_SOCKET": path})
            assert sd.ready("reconciled\nwith  the broker") and sd.status("x") and sd.watchdog() and sd.stopping()
            got = [rx.recv(4096).decode() for _ in range(4)]
        finally:
            os.unlink(path)
    assert got == ["READY=1\nSTATUS=reconciled with the broker", "STATUS=x", "WATCHDOG=1", "STOPPING=1"]


def test_abstract_namespace_socket():
    name = f"stockbot-test-{os.getpid()}"
    assert socket_address("@" + name) == b"\0" + name.encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as rx:
        rx.bind(b"\0" + name.encode())
        assert SdNotifier({"NOTIFY_SOCKET": "@" + name}).notify("READY=1")
        assert rx.recv(64) == b"READY=1"


def test_a_receiver_that_never_reads_does_not_block_the_sender():
    path = f"/tmp/sbn-full-{os.getpid()}.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as rx:
        rx.bind(path)
        try:
            sd = SdNotifier({"NOTIFY_SOCKET": path})
            results = [sd.status(f"line {i}") for i in range(2000)]  # far beyond the kernel queue
        finally:
            os.unlink(path)
    assert results[0] is True and results[-1] is False  # later ones dropped, none blocked


def test_watchdog_interval_only_for_this_process():
    assert SdNotifier({"WATCHDOG_USEC": "90000000"}).watchdog_interval_s == 90
    assert SdNotifier({"WATCHDOG_USEC": "90000000", "WATCHDOG_PID": str(os.getpid())}).watchdog_interval_s == 90
    assert SdNotifier({"WATCHDOG_USEC": "90000000", "WATCHDOG_PID": "1"}).watchdog_interval_s is None
