"""The Python package against real image files and real processes, from a
wheel installed in a fresh virtual environment (cargo xtask python-test)."""

import os
import subprocess
import sys
import threading
import time

import pytest

import discrec


@pytest.fixture
def image(tmp_path):
    p = tmp_path / "disc.img"
    p.write_bytes(b"")
    return p


def owner_from_another_process(path):
    code = "import discrec, sys; print(discrec.Recorder(sys.argv[1]).exclusive_access_owner)"
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout.strip()


def test_acquire_nest_owner_release(image):
    rec = discrec.Recorder(image)
    rec.acquire_exclusive_access(False, "Py Burner")
    rec.acquire_exclusive_access(False, "Py Burner")
    assert rec.lock_count == 2
    assert rec.exclusive_access_owner == "Py Burner"
    assert owner_from_another_process(image) == "Py Burner"
    owner = rec.owner()
    assert owner["client_name"] == "Py Burner" and owner["pid"] == os.getpid() and owner["by_discrec"]
    rec.release_exclusive_access()
    rec.release_exclusive_access()
    assert rec.exclusive_access_owner is None
    assert owner_from_another_process(image) == "None"
    with pytest.raises(discrec.NotLockedError) as e:
        rec.release_exclusive_access()
    assert e.value.hresult == 0x80070001 and isinstance(e.value, discrec.Error)


def test_context_manager_and_refusal_naming_the_holder(image):
    a, b = discrec.Recorder(image), discrec.Recorder(image)
    with a.exclusive_access("Holder App"):
        with pytest.raises(discrec.RecorderLockedError) as e:
            b.acquire_exclusive_access(False, "Other App")
        assert e.value.hresult == 0xC0AA0210 and e.value.name == "E_IMAPI_RECORDER_LOCKED"
        assert "Holder App" in str(e.value)
        with pytest.raises(discrec.RecorderLockedError):
            with b.exclusive_access("Other App", timeout=0.2):
                pass
    assert a.lock_count == 0
    with b.exclusive_access("Other App"):
        assert a.exclusive_access_owner == "Other App"


def test_every_error_kind_of_the_library_has_its_class():
    # The library's one error table (discrec::error::KINDS) against the
    # classes in discrec/_errors.py: same name, same HRESULT, one per name.
    kinds = discrec._discrec.ERROR_KINDS
    assert len(kinds) >= 27
    for name, hresult, exit_code, cls_name in kinds:
        cls = getattr(discrec, cls_name)
        assert issubclass(cls, discrec.Error), cls_name
        assert (cls.name, cls.hresult) == (name, hresult), (exit_code, cls_name)
        assert discrec.BY_NAME[name] is cls
    named = {name for name, _, _, _ in kinds}
    assert set(discrec.BY_NAME) == named, set(discrec.BY_NAME) ^ named


def test_bad_client_names_and_types(image):
    rec = discrec.Recorder(image)
    with pytest.raises(discrec.InvalidArgumentError) as e:
        rec.acquire_exclusive_access(False, "Bad/Name")
    assert e.value.hresult == 0x80070057 and "'/'" in str(e.value)
    with pytest.raises(TypeError):
        rec.acquire_exclusive_access(False, None)
    with pytest.raises(discrec.InvalidArgumentError):
        rec.acquire_exclusive_access_wait(False, "Py", -1.0)
    with pytest.raises(discrec.DeviceNotExistError) as e:
        discrec.Recorder("/nonexistent/drive")
    assert e.value.hresult == 0x80070037


def test_closed_recorder_is_invalid_handle(image):
    rec = discrec.Recorder(image)
    rec.acquire_exclusive_access(False, "Py")
    rec.close()
    assert owner_from_another_process(image) == "None"
    with pytest.raises(discrec.InvalidHandleError) as e:
        rec.acquire_exclusive_access(False, "Py")
    assert e.value.hresult == 0x80070006


def test_a_crashed_holder_frees_the_recorder(image):
    code = "import discrec, sys, os; r = discrec.Recorder(sys.argv[1]); r.acquire_exclusive_access(False, 'Crasher'); print('held', flush=True); os.kill(os.getpid(), 9)"
    p = subprocess.run([sys.executable, "-c", code, str(image)], capture_output=True, text=True)
    assert p.stdout.strip() == "held" and p.returncode == -9
    with discrec.Recorder(image).exclusive_access("After Crash"):
        pass


def test_waiting_releases_the_gil(image):
    holder = discrec.Recorder(image)
    holder.acquire_exclusive_access(False, "Holder")
    waiter = discrec.Recorder(image)
    got = []
    t = threading.Thread(target=lambda: got.append(waiter.acquire_exclusive_access_wait(False, "Waiter", 10.0)))
    t.start()
    # The main thread keeps running Python while the other waits.
    ticks = 0
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        ticks += 1
    assert ticks > 1000 and t.is_alive()
    holder.release_exclusive_access()
    t.join(5)
    assert got == [None] and waiter.exclusive_access_owner == "Waiter"


def test_write_a_directory_with_progress_and_cancel(tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "hello.txt").write_text("hello from Python\n")
    (tree / "sub" / "data.bin").write_bytes(b"\x5a" * 300_000)
    target = tmp_path / "out.img"
    target.write_bytes(b"")
    w = discrec.DataWriter(target)
    w.client_name = "Py Burner"
    updates = []
    report = w.write(tree, progress=updates.append)
    assert report["verified"] and report["sectors"] > 0
    assert updates and updates[-1]["action"] == "completed"
    assert target.stat().st_size == report["sectors"] * 2048
    with pytest.raises(discrec.MediaNotBlankError):
        w.write(tree)
    with pytest.raises(discrec.WriteNotInProgressError):
        w.cancel_write()
    with pytest.raises(discrec.ClientNameNotValidError):
        w.client_name = "no/slashes"

    # Cancelled from another thread while it writes.
    big = tmp_path / "big.iso"
    with open(big, "wb") as f:
        for _ in range(512):
            f.write(b"\xa5" * (1 << 20))
    target2 = tmp_path / "out2.img"
    target2.write_bytes(b"")
    w2 = discrec.DataWriter(target2)
    started = threading.Event()
    threading.Thread(target=lambda: (started.wait(10), w2.cancel_write())).start()
    with pytest.raises(discrec.CancelledError):
        w2.write(big, progress=lambda p: started.set())

    # An exception in the callback cancels the write and comes back.
    target3 = tmp_path / "out3.img"
    target3.write_bytes(b"")

    def boom(p):
        raise ValueError("stop here")

    with pytest.raises(ValueError, match="stop here"):
        discrec.DataWriter(target3).write(big, progress=boom)

    # Raised on the final update, the write had completed: said so, with the
    # report and the callback's exception as the cause, not a failure that
    # invites a second write onto a used medium.
    target4 = tmp_path / "out4.img"
    target4.write_bytes(b"")

    def fail_at_the_end(p):
        if p["action"] == "completed":
            raise ValueError("late")

    with pytest.raises(discrec.ProgressCallbackError, match="the write completed") as e:
        discrec.DataWriter(target4).write(tree, progress=fail_at_the_end)
    assert e.value.report["verified"] and e.value.report["sectors"] > 0
    assert isinstance(e.value.__cause__, ValueError)
    assert target4.stat().st_size == e.value.report["sectors"] * 2048

    # Raised while verifying: every sector is written, only the verify
    # stopped; said so, not a failure that invites a second write.
    target5 = tmp_path / "out5.img"
    target5.write_bytes(b"")

    def fail_while_verifying(p):
        if p["action"] == "verifying":
            raise ValueError("verify no more")

    with pytest.raises(discrec.ProgressCallbackError, match="not verified") as e:
        discrec.DataWriter(target5).write(big, progress=fail_while_verifying)
    assert not e.value.report["verified"] and e.value.report["sectors"] == 512 * 512
    assert isinstance(e.value.__cause__, ValueError)
    assert target5.stat().st_size == e.value.report["sectors"] * 2048
    with pytest.raises(discrec.MediaNotBlankError):
        discrec.DataWriter(target5).write(tree)


def test_enumeration_and_version():
    # The installed wheel is under test, not the source tree.
    assert "site-packages" in discrec.__file__, discrec.__file__
    assert isinstance(discrec.recorders(), list)
    assert discrec.__version__.count(".") == 2
    assert issubclass(discrec.RecorderLockedError, discrec.Error)


def test_a_wait_can_be_cancelled_interrupted_and_observed(image):
    holder = discrec.Recorder(image)
    holder.acquire_exclusive_access(False, "Holder")
    waiter = discrec.Recorder(image)
    result = []

    def wait():
        try:
            waiter.acquire_exclusive_access_wait(False, "Waiter", None)
            result.append("acquired")
        except discrec.Error as e:
            result.append(e)

    # Cancels with no wait in progress never block (a socket pair filled
    # after about 280 and hung with the GIL held), nor end a later wait.
    for _ in range(100_000):
        waiter.cancel_wait()
    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.2)
    assert t.is_alive() and not result, result
    # Reading the waiting object does not wait for it (nor freeze Python).
    started = time.monotonic()
    assert waiter.lock_count == 0 and waiter.path.endswith("disc.img") and "disc.img" in repr(waiter)
    assert time.monotonic() - started < 0.5
    waiter.cancel_wait()
    t.join(5)
    assert not t.is_alive() and isinstance(result[0], discrec.CancelledError), result
    # close() ends a wait too.
    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.2)
    waiter.close()
    t.join(5)
    assert not t.is_alive() and isinstance(result[1], discrec.Error), result
    assert holder.exclusive_access_owner == "Holder"


def test_a_timeout_past_what_the_clock_counts_is_forever(image):
    r = discrec.Recorder(image)
    # 1e19 s is a valid duration but no deadline the clock can hold.
    r.acquire_exclusive_access_wait(False, "Patient", 1e19)
    assert r.lock_count == 1
    r.release_exclusive_access()


def test_ctrl_c_interrupts_a_wait_forever(image):
    code = """
import discrec, os, signal, sys, threading
h = discrec.Recorder(sys.argv[1]); h.acquire_exclusive_access(False, "Holder")
w = discrec.Recorder(sys.argv[1])
threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    w.acquire_exclusive_access_wait(False, "Waiter", None)
    print("acquired")
except KeyboardInterrupt:
    print("interrupted", w.lock_count)
"""
    p = subprocess.run([sys.executable, "-c", code, str(image)], capture_output=True, text=True, timeout=20)
    assert p.stdout.strip() == "interrupted 0", p.stdout + p.stderr


def test_bad_timeouts_and_subclasses(image):
    rec = discrec.Recorder(image)
    for bad in (1e20, float("inf"), float("nan"), -1.0):
        with pytest.raises(discrec.InvalidArgumentError):
            rec.acquire_exclusive_access_wait(False, "Py", bad)

    class Mine(discrec.Recorder):
        def __init__(self, path, label):
            super().__init__()
            self.label = label

    m = Mine(image, "mine")
    assert m.label == "mine" and m.exclusive_access_owner is None
    with pytest.raises(discrec.InvalidHandleError) as e:
        rec.close()
        rec.release_exclusive_access()
    assert e.value.hresult == 0x80070006


def test_ctrl_c_cancels_a_write(tmp_path):
    big = tmp_path / "big.iso"
    with open(big, "wb") as f:
        for _ in range(512):
            f.write(b"\xa5" * (1 << 20))
    target = tmp_path / "out.img"
    target.write_bytes(b"")
    code = """
import discrec, os, signal, sys, threading, time
w = discrec.DataWriter(sys.argv[1])
threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
t = time.monotonic()
try:
    w.write(sys.argv[2])
    print("finished")
except KeyboardInterrupt:
    print("interrupted", w.is_writing, round(time.monotonic() - t) < 5)
"""
    p = subprocess.run([sys.executable, "-c", code, str(target), str(big)], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "interrupted False True", p.stdout + p.stderr
    assert target.stat().st_size < 512 << 20


def test_a_forked_child_never_undoes_its_parents_hold(image):
    r = discrec.Recorder(image)
    r.acquire_exclusive_access(False, "Parent")
    pid = os.fork()
    if pid == 0:
        # The child's release gives up its inherited copies only.
        try:
            r.release_exclusive_access()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    other = discrec.Recorder(image)
    # Still held, and still named: the child deleted no owner record.
    assert other.exclusive_access_owner == "Parent"
    with pytest.raises(discrec.RecorderLockedError):
        other.acquire_exclusive_access(False, "Other")
    r.release_exclusive_access()
    assert other.exclusive_access_owner is None


def test_a_parent_that_releases_frees_the_drive_though_a_child_still_runs(image):
    r = discrec.Recorder(image)
    r.acquire_exclusive_access(False, "Parent")
    pid = os.fork()
    if pid == 0:
        # A child that keeps running (its copy of the lock's descriptor
        # must not keep the drive held once the parent released it).
        time.sleep(3)
        os._exit(0)
    try:
        r.release_exclusive_access()
        other = discrec.Recorder(image)
        assert other.exclusive_access_owner is None
        other.acquire_exclusive_access(False, "Other")
        other.release_exclusive_access()
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def run_scenario(code, image):
    """Run `code` in a fresh interpreter with the image's path; a hang is a
    failure, not a stuck test run."""
    try:
        p = subprocess.run([sys.executable, "-c", code, str(image)], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"hung; it printed: {e.stdout!r} {e.stderr!r}")
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


WAIT_IN_A_THREAD = """
import discrec, os, signal, sys, threading, time
r = discrec.Recorder(sys.argv[1])
res = []
def wait():
    try:
        r.acquire_exclusive_access_wait(False, "Thread", None)
        res.append("granted")
    except discrec.CancelledError:
        res.append("cancelled")
t = threading.Thread(target=wait)
t.start()
time.sleep(0.3)
"""

WAIT_IN_A_THREAD_END = """
time.sleep(0.3)
print("thread " + (res[0] if res else "still waiting"))
r.cancel_wait()
t.join(5)
print("thread " + (res[0] if res else "hung"))
"""


@pytest.fixture
def held(image):
    """The image, held by another handle of this process ("Holder")."""
    holder = discrec.Recorder(image)
    holder.acquire_exclusive_access(False, "Holder")
    yield image
    holder.close()


@pytest.mark.parametrize(
    "call",
    ['r.acquire_exclusive_access_wait(False, "Main", None)', "r.owner()"],
    ids=["its_own_wait", "a_call_behind_the_threads_wait"],
)
def test_ctrl_c_ends_only_its_own_threads_wait(held, call):
    code = WAIT_IN_A_THREAD + """
threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    %s
    print("main answered")
except KeyboardInterrupt:
    print("main interrupted")
""" % call + WAIT_IN_A_THREAD_END
    assert run_scenario(code, held) == ["main interrupted", "thread still waiting", "thread cancelled"]


def test_a_forked_childs_close_neither_hangs_nor_ends_its_parents_wait(held):
    code = WAIT_IN_A_THREAD + """
pid = os.fork()
if pid == 0:
    # Other calls on the copy say why they cannot run, wait or not.
    for call in (lambda: r.owner(), lambda: r.acquire_exclusive_access_wait(False, "Child", 1.0)):
        try:
            call()
            os._exit(4)
        except RuntimeError as e:
            if "forked" not in str(e):
                os._exit(5)
        except BaseException:
            os._exit(6)
    try:
        r.close()
        os._exit(0)
    except BaseException:
        os._exit(3)
_, status = os.waitpid(pid, 0)
print("child exit %d" % os.WEXITSTATUS(status))
""" + WAIT_IN_A_THREAD_END
    assert run_scenario(code, held) == ["child exit 0", "thread still waiting", "thread cancelled"]


def test_a_timeout_holds_behind_another_threads_wait(held):
    code = WAIT_IN_A_THREAD + """
t0 = time.monotonic()
try:
    r.acquire_exclusive_access_wait(False, "Main", 0.5)
    print("main granted")
except discrec.RecorderLockedError as e:
    print("main refused, naming the holder" if "Holder" in str(e) else "main refused: " + str(e))
took = time.monotonic() - t0
print("in time" if took < 3 else "after %.1f s" % took)
""" + WAIT_IN_A_THREAD_END
    assert run_scenario(code, held) == [
        "main refused, naming the holder",
        "in time",
        "thread still waiting",
        "thread cancelled",
    ]


def test_a_forked_child_uses_its_copy_while_its_own_thread_waits(held):
    # Made in the parent, unused at the fork: the child's copy is the
    # child's, and its own busy thread is no parent thread it lacks.
    code = """
import discrec, os, sys, threading, time
r = discrec.Recorder(sys.argv[1])
pid = os.fork()
if pid == 0:
    res = []
    def wait():
        try:
            r.acquire_exclusive_access_wait(False, "Child Thread", None)
            res.append("granted")
        except discrec.CancelledError:
            res.append("cancelled")
    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.3)
    threading.Timer(0.3, r.cancel_wait).start()
    try:
        o = r.owner()
        code = 0 if (o or {}).get("client_name") == "Holder" else 4
    except RuntimeError:
        code = 5
    t.join(5)
    r.close()
    try:
        r.acquire_exclusive_access(False, "After Close")
        code = code or 6
    except discrec.InvalidHandleError:
        pass
    os._exit(code if res == ["cancelled"] else code or 7)
_, status = os.waitpid(pid, 0)
print("child exit %d" % os.WEXITSTATUS(status))
"""
    assert run_scenario(code, held) == ["child exit 0"]
