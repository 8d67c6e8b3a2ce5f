"""The calls beyond the lock and the plain write, from Python, on image
files (virtual recorders) and a real etcd on loopback: status, the medium,
the drive list, a command run while holding, adding a session, the write
speed, overwrite, the eraser, the cluster lock. (The guest tier runs the
drive-only calls against real `sr` drives from C.)"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import discrec


@pytest.fixture
def image(tmp_path):
    p = tmp_path / "disc.img"
    p.write_bytes(b"")
    return p


@pytest.fixture
def trees(tmp_path):
    first = tmp_path / "first"
    (first / "sub").mkdir(parents=True)
    (first / "a.txt").write_text("first\n")
    (first / "sub" / "b.txt").write_text("kept\n")
    more = tmp_path / "more"
    more.mkdir()
    (more / "a.txt").write_text("replaced\n")
    (more / "c.txt").write_text("added\n")
    return first, more


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def etcd():
    if shutil.which("etcd") is None:
        if os.environ.get("DISCREC_REQUIRE_ALL") == "1":
            pytest.fail("etcd is required (DISCREC_REQUIRE_ALL=1): apt install etcd-server")
        pytest.skip("etcd is not installed (apt install etcd-server)")
    data = tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    p = subprocess.Popen(
        ["etcd", "--data-dir", data, "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"default=http://127.0.0.1:{peer}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", client), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield url
    p.kill()
    p.wait()
    shutil.rmtree(data, ignore_errors=True)


def test_status_names_the_holder(image):
    rec = discrec.Recorder(image)
    s = rec.status()
    assert s["locked"] is False and s["kind"] == "file" and s["node"] == str(image)
    rec.acquire_exclusive_access(False, "Py Status")
    s = discrec.Recorder(image).status()
    assert s["locked"] is True
    assert s["owner"]["client_name"] == "Py Status" and s["owner"]["pid"] == os.getpid()
    rec.release_exclusive_access()


def test_the_medium_of_a_blank_and_a_written_image(image, trees):
    rec = discrec.Recorder(image)
    m = rec.medium()
    assert m["state"] == ["blank"] and m["next_writable_address"] == 0 and m["sessions"] == 0
    assert m["physical_type"] == "disk" and m["erasable"] is False and m["medium_supported"] is True
    holder = discrec.Recorder(image)
    holder.acquire_exclusive_access(False, "Py Holder")
    with pytest.raises(discrec.RecorderLockedError, match="Py Holder"):
        rec.medium()
    holder.release_exclusive_access()
    discrec.DataWriter(image).write(trees[0])
    m = rec.medium()
    assert "appendable" in m["state"] and m["next_writable_address"] > 0 and m["sessions"] == 1


def test_drive_questions_of_an_image_say_it_is_no_drive(image):
    rec = discrec.Recorder(image)
    for ask in (rec.drive, rec.check_medium, lambda: rec.tray_state):
        with pytest.raises(discrec.InvalidArgumentError, match="image file"):
            ask()


def test_drives_lists_every_recorder_with_details():
    drives = discrec.drives()
    assert isinstance(drives, list)
    assert [d["device"] for d in drives] == discrec.recorders()


def test_run_holding_returns_the_exit_code_and_keeps_the_hold(image):
    rec = discrec.Recorder(image)
    with pytest.raises(discrec.NotLockedError, match="acquire it first"):
        rec.run_holding(["true"])
    rec.acquire_exclusive_access(False, "Py Supervisor")
    assert rec.run_holding(["sh", "-c", "exit 7"]) == 7
    assert rec.run_holding(["sh", "-c", "kill -TERM $$"]) == -signal.SIGTERM
    # The command's own discrec calls run under this hold: what it reads
    # back as the owner is this program's client name.
    code = "import discrec, sys; print(discrec.Recorder(sys.argv[1]).exclusive_access_owner)"
    out = tempfile.NamedTemporaryFile(delete=False)
    cmd = [sys.executable, "-c", f"{code}", str(image)]
    assert rec.run_holding(["sh", "-c", '"$@" > ' + out.name, "sh"] + cmd) == 0
    assert open(out.name).read().strip() == "Py Supervisor"
    os.unlink(out.name)
    assert rec.lock_count == 1 and discrec.Recorder(image).exclusive_access_owner == "Py Supervisor"
    with pytest.raises(discrec.InvalidArgumentError):
        rec.run_holding([])
    with pytest.raises(discrec.Error, match="/nonexistent/program"):
        rec.run_holding(["/nonexistent/program"])
    rec.release_exclusive_access()


def test_signal_command_passes_a_signal_on(image):
    rec = discrec.Recorder(image)
    rec.acquire_exclusive_access(False, "Py Supervisor")
    threading.Timer(0.3, lambda: rec.signal_command(signal.SIGTERM)).start()
    t = time.monotonic()
    assert rec.run_holding(["sleep", "30"]) == -signal.SIGTERM
    assert time.monotonic() - t < 10
    with pytest.raises(discrec.InvalidArgumentError):
        rec.signal_command(1000)
    with pytest.raises(discrec.InvalidArgumentError, match="named one"):
        rec.signal_command(signal.SIGRTMIN)
    rec.release_exclusive_access()


def run_alone(code, image):
    """`code` in a Python of its own session (its own process group, as a
    terminal's foreground job), with the image as argv[1]."""
    return subprocess.run([sys.executable, "-c", code, str(image)], capture_output=True, text=True, timeout=60,
                          start_new_session=True)


def test_ctrl_c_at_a_terminal_stops_the_command_and_raises(image):
    # A terminal sends SIGINT to the whole foreground process group: the
    # command gets it itself, and the call raises once it has ended.
    code = """
import discrec, os, signal, sys, threading, time
rec = discrec.Recorder(sys.argv[1])
rec.acquire_exclusive_access(False, "Py Ctrl-C")
threading.Timer(0.3, lambda: os.killpg(os.getpgrp(), signal.SIGINT)).start()
t = time.monotonic()
try:
    rec.run_holding(["sleep", "30"])
    print("finished")
except KeyboardInterrupt:
    print("interrupted", rec.lock_count, round(time.monotonic() - t) < 10)
"""
    p = run_alone(code, image)
    assert p.stdout.strip() == "interrupted 1 True", p.stdout + p.stderr


def test_a_second_ctrl_c_stops_a_command_that_ignores_the_first(image):
    # SIGINT to this process alone (not from a terminal), twice: the first
    # is not passed on, the second is, as SIGTERM.
    code = """
import discrec, os, signal, sys, threading, time
rec = discrec.Recorder(sys.argv[1])
rec.acquire_exclusive_access(False, "Py Ctrl-C")
for at in (0.3, 0.8):
    threading.Timer(at, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
t = time.monotonic()
try:
    rec.run_holding(["sh", "-c", "trap '' INT; exec sleep 30"])
    print("finished")
except KeyboardInterrupt:
    print("interrupted", rec.lock_count, round(time.monotonic() - t) < 10)
"""
    p = run_alone(code, image)
    assert p.stdout.strip() == "interrupted 1 True", p.stdout + p.stderr


def test_two_commands_held_at_once_each_wait_for_their_orphans(tmp_path):
    # Two run_holding at once on two threads: the subreaper setting is the
    # process's, and the first to end must not take it from the other.
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    a.write_bytes(b"")
    b.write_bytes(b"")
    marker = tmp_path / "orphan-done"
    ra, rb = discrec.Recorder(a), discrec.Recorder(b)
    ra.acquire_exclusive_access(False, "Py A")
    rb.acquire_exclusive_access(False, "Py B")
    ended = {}

    def run(name, rec, argv):
        rec.run_holding(argv)
        ended[name] = time.monotonic()

    t0 = time.monotonic()
    ta = threading.Thread(target=run, args=("a", ra, ["sleep", "1"]))
    tb = threading.Thread(target=run, args=("b", rb, ["sh", "-c", f"sleep 2; (sleep 2; touch {marker}) & exit 0"]))
    ta.start()
    tb.start()
    ta.join()
    tb.join()
    assert marker.exists(), "B returned before its orphan ended"
    assert ended["b"] - t0 >= 3.5 and ended["a"] - t0 < 3
    ra.release_exclusive_access()
    rb.release_exclusive_access()


def test_the_stubs_name_only_what_the_module_has():
    # The type stubs are what the "Every door" test reads: each class and
    # member they name must exist in the compiled module.
    import ast
    import inspect

    stub = os.path.join(os.path.dirname(inspect.getfile(discrec)), "_discrec.pyi")
    tree = ast.parse(open(stub).read())
    missing = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not hasattr(discrec._discrec, node.name):
            missing.append(node.name)
        if isinstance(node, ast.ClassDef):
            cls = getattr(discrec._discrec, node.name, None)
            if cls is None:
                missing.append(node.name)
                continue
            for m in node.body:
                name = m.name if isinstance(m, ast.FunctionDef) else getattr(getattr(m, "target", None), "id", None)
                if name and not name.startswith("__") and not hasattr(cls, name):
                    missing.append(f"{node.name}.{name}")
    assert missing == []


def test_append_keeps_the_old_files_and_reports_it(image, trees):
    w = discrec.DataWriter(image)
    first = w.write(trees[0])
    assert first["added_to"] is None and first["start_lba"] == 0
    before = w.medium()["next_writable_address"]
    added = w.append(trees[1])
    assert added["added_to"] == {"previous_session_start": 0, "files_kept": 1}
    assert added["start_lba"] >= before
    assert w.medium()["next_writable_address"] > before
    # What the kernel would mount: isoinfo is not on every machine, so
    # read the names back through a second append's import.
    with pytest.raises(discrec.Error, match="/nonexistent"):
        w.append("/nonexistent")


def test_a_closed_image_is_refused_before_anything_is_written(tmp_path, trees):
    image = tmp_path / "closed.img"
    image.write_bytes(b"\x00" * 2048 * 20)
    w = discrec.DataWriter(image)
    with pytest.raises(discrec.NoSupportedFileSystemError):
        w.append(trees[1])
    assert image.read_bytes() == b"\x00" * 2048 * 20


def test_write_speed_and_overwrite_settings(image, trees):
    w = discrec.DataWriter(image)
    assert w.supported_write_speeds() == [] and w.force_overwrite is False
    w.set_write_speed(sectors_per_second=3600)
    with pytest.raises(discrec.InvalidArgumentError, match="speed"):
        w.write(trees[0])
    assert w.medium()["state"] == ["blank"]
    with pytest.raises(discrec.InvalidArgumentError):
        w.set_write_speed(sectors_per_second=3600, x=4)
    with pytest.raises(discrec.InvalidArgumentError):
        w.set_write_speed(x=-1)
    w.set_write_speed()
    w.set_wait(2.5)
    w.write(trees[0])
    w.force_overwrite = True
    assert w.force_overwrite is True
    with pytest.raises(discrec.MediaNotBlankError, match="rewritable"):
        w.write(trees[0])


def test_a_writer_waits_for_the_drive_when_asked(image, trees):
    holder = discrec.Recorder(image)
    holder.acquire_exclusive_access(False, "Py Holder")
    threading.Timer(0.5, holder.release_exclusive_access).start()
    w = discrec.DataWriter(image)
    w.set_wait(None)
    t = time.monotonic()
    w.write(trees[0])
    assert time.monotonic() - t >= 0.4
    w2 = discrec.DataWriter(image)
    holder.acquire_exclusive_access(False, "Py Holder")
    w2.set_wait(0)
    with pytest.raises(discrec.RecorderLockedError, match="Py Holder"):
        w2.append(trees[1])
    holder.release_exclusive_access()


def test_the_eraser_refuses_an_image_and_bad_names(image):
    e = discrec.Eraser(image)
    assert e.client_name == "discrec" and e.full_erase is False
    with pytest.raises(discrec.EraseClientNameNotValidError):
        e.client_name = "no/slash"
    e.client_name = "Py Eraser"
    e.full_erase = True
    assert e.client_name == "Py Eraser" and e.full_erase is True
    e.set_wait(None)
    assert e.medium()["erasable"] is False
    with pytest.raises(discrec.MediaNotErasableError, match="truncate"):
        e.erase(lambda p: None)


def test_the_cluster_lock_on_etcd(tmp_path, etcd):
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    a.write_bytes(b"")
    b.write_bytes(b"")
    here, there = discrec.Recorder(a), discrec.Recorder(b)
    assert here.fencing_token is None
    here.check_cluster_lock()
    with pytest.raises(discrec.InvalidArgumentError):
        here.set_cluster("ftp://nowhere", key="k")
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(discrec.InvalidArgumentError, match="lease"):
            here.set_cluster(etcd, key="k", ttl=bad)
    key = f"py-doors-{os.getpid()}"
    here.set_cluster(etcd, key=key, ttl=5)
    there.set_cluster(etcd, key=key, ttl=5)
    here.acquire_exclusive_access(False, "Py Here")
    token = here.fencing_token
    assert token is not None and token > 0
    here.check_cluster_lock()
    with pytest.raises(discrec.RecorderLockedError, match="Py Here"):
        there.acquire_exclusive_access(False, "Py There")
    with pytest.raises(discrec.InvalidArgumentError):
        here.set_cluster(etcd, key=key)
    here.release_exclusive_access()
    there.acquire_exclusive_access(False, "Py There")
    assert there.fencing_token > token
    there.release_exclusive_access()


def test_an_unreachable_etcd_fails_soon_naming_it(image):
    t = time.monotonic()
    with pytest.raises(discrec.Error, match="127.0.0.1:9"):
        discrec.Recorder(image).set_cluster("http://127.0.0.1:9", key="k")
    assert time.monotonic() - t < 15


def test_drive_commands_on_an_image_say_it_is_no_drive(image):
    rec = discrec.Recorder(image)
    for call in (rec.identity, rec.eject, rec.close_tray, lambda: rec.set_tray_locked(True)):
        with pytest.raises(discrec.InvalidArgumentError, match="image file"):
            call()
    assert rec.lock_count == 0 and rec.exclusive_access_owner is None


def test_writer_settings_round_trip_and_take_effect(image, trees):
    w = discrec.DataWriter(image)
    assert w.verify is True and w.force_media_to_be_closed is False
    w.verify = False
    w.force_media_to_be_closed = True
    assert w.verify is False and w.force_media_to_be_closed is True
    report = w.write(trees[0])
    assert report["verified"] is False and report["verify_time"] == 0
