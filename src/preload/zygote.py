# pidone's preload zygote (see src/preload/launcher.ts). Started by pidone as
#   PYTHON [the app's interpreter options] -c BOOTSTRAP CONFIG_JSON
# with the app's environment and working directory; the bootstrap read this file from fd 3, a
# unix socket to pidone, and runs it. It imports the preloaded modules, reports, then forks one
# app generation per request. Each child is made to look like a fresh `python3 ...` started by
# pidone (session, signals, fds, environment, argv, sys.path[0], __main__) and then runs the app
# exactly as the interpreter's command line would. Messages are JSON lines both ways.
#
# Only the standard library. Nothing here may start a thread: fork() copies only the calling one.
import builtins
import errno
import fcntl
import gc
import importlib
import json
import os
import select
import signal
import sys
import time
import traceback
import types

CTL = 3
CONFIG = json.loads(sys.argv[1])
# Whether the interpreter put a path first in sys.path (-c puts ''), as it does for the app:
# not with -I, -P or PYTHONSAFEPATH.
SAFE_PATH = bool(getattr(sys.flags, "safe_path", False) or sys.flags.isolated)
_out = b""


def send(msg):
    data = (json.dumps(msg) + "\n").encode()
    while data:
        try:
            n = os.write(CTL, data)
        except BlockingIOError:
            select.select([], [CTL], [])
            continue
        data = data[n:]


def thread_count():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading
        return threading.active_count()


def held_files():
    """(name, file, mtime_ns, size) of every module with a file, for the staleness check."""
    out = []
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if not isinstance(f, str):
            continue
        try:
            st = os.stat(f)
        except OSError:
            continue
        out.append((name, f, st.st_mtime_ns, st.st_size))
    return out


def changed(files):
    """The first module file that changed on disk since it was imported (a pip install), or None."""
    for name, f, mtime, size in files:
        try:
            st = os.stat(f)
        except OSError:
            return f
        if st.st_mtime_ns != mtime or st.st_size != size:
            return f
    return None


def own_file(name):
    """The file of top-level module `name` if it is the app's own code (under a guarded directory,
    not an installed package), found without importing it: importing would already run it. The
    full check, of every module the preload imported, is pidone's (src/preload/own-code.ts)."""
    import importlib.util
    try:
        spec = importlib.util.find_spec(name.split(".")[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    files = [spec.origin] if isinstance(spec.origin, str) else []
    files += list(spec.submodule_search_locations or [])
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    for f in files:
        f = os.path.realpath(f)
        if f.startswith(stdlib + os.sep) or any(p in f.split(os.sep) for p in ("site-packages", "dist-packages", "lib-dynload")):
            continue
        for d in CONFIG["guarded"]:
            d = os.path.realpath(d)
            if f == d or f.startswith(d.rstrip(os.sep) + os.sep):
                return f, d
    return None


def preload():
    before = set(sys.modules)
    t0 = time.monotonic()
    for name in CONFIG["modules"]:
        own = own_file(name)
        if own is not None:
            send({"op": "own-code", "module": name, "file": own[0], "dir": own[1]})
            os._exit(0)
        try:
            importlib.import_module(name)
        except BaseException as e:
            # Python's own last line ("ModuleNotFoundError: No module named 'x'"), for pidone's error.
            send({"op": "import-error", "module": name, "message": traceback.format_exception_only(type(e), e)[-1].strip()})
            sys.stdout.flush()
            os._exit(0)
    ms = (time.monotonic() - t0) * 1000
    new = sorted((n, m.__file__) for n, m in list(sys.modules.items())
                 if n not in before and isinstance(getattr(m, "__file__", None), str))
    return ms, new


def main():
    if CONFIG.get("terminal"):
        os.setpgid(0, 0)
    os.set_inheritable(CTL, False)
    fcntl.fcntl(CTL, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
    ms, new = preload()
    # What a cold interpreter that imported the same modules would have: restored in each child.
    dispositions = {}
    for s in signal.valid_signals():
        try:
            dispositions[s] = signal.getsignal(s)
        except (OSError, ValueError):
            pass
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    files = held_files()
    # What the preload made lives as long as the zygote: keep the collector out of it, so that a
    # child's collections neither walk it (tens of ms for a big library) nor write to its pages
    # (copy-on-write). The child's own objects are collected as usual.
    gc.collect()
    gc.freeze()
    send({"op": "ready", "ms": round(ms, 1), "modules": len(files), "new": new, "threads": thread_count(),
          "stdlib": os.path.dirname(os.__file__)})

    # SIGCHLD wakes select() through a pipe (a Python handler alone would only run between
    # bytecodes, and select() would sleep on). The zygote ignores terminal signals: it is in a
    # session of its own, and a stop of the app must never reach it.
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    for s in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    children = set()
    retiring = False
    buf = b""
    while True:
        ready, _, _ = select.select([CTL, r], [], [])
        if r in ready:
            try:
                while os.read(r, 512):
                    pass
            except BlockingIOError:
                pass
            reap(children)
            if retiring and not children:
                os._exit(0)
        if CTL not in ready:
            continue
        try:
            data = os.read(CTL, 65536)
        except BlockingIOError:
            continue
        if not data:
            # pidone is gone: so is the reason to exist. The generation lives on (its own session).
            os._exit(0)
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            if req["op"] == "retire":
                retiring = True
                if not children:
                    os._exit(0)
            elif req["op"] == "fork":
                t0 = time.monotonic()
                stale = changed(files)
                threads = thread_count()
                t1 = time.monotonic()
                if stale is not None:
                    send({"op": "stale", "file": stale})
                elif threads > 1:
                    send({"op": "unsafe", "threads": threads})
                else:
                    pid = fork(req, dispositions, mask, r, w)
                    children.add(pid)
                    send({"op": "forked", "pid": pid, "checkMs": round((t1 - t0) * 1000, 2), "forkMs": round((time.monotonic() - t1) * 1000, 2)})


def reap(children):
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.discard(pid)
        if os.WIFSIGNALED(status):
            send({"op": "exit", "pid": pid, "signal": os.WTERMSIG(status)})
        else:
            send({"op": "exit", "pid": pid, "code": os.WEXITSTATUS(status)})


def fork(req, dispositions, mask, r, w):
    sys.stdout.flush()
    sys.stderr.flush()
    # The child closes `sync` once it has its own session and pidone's signals would reach the
    # right group: only then is its pid reported, so a stop sent right away cannot miss it.
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        become_app(req, dispositions, mask, r, w)
        run_app()
        return 0  # not reached: run_app ends the process, one way or another
    os.close(sync_w)
    while True:
        try:
            os.read(sync_r, 1)
            break
        except InterruptedError:
            continue
    os.close(sync_r)
    return pid


def become_app(req, dispositions, mask, r, w):
    """In the child: undo everything that is the zygote's and not the app's."""
    if CONFIG.get("terminal"):
        # As the exec shim does for a cold app on a terminal: a process group of its own in
        # pidone's session, made the terminal's foreground, so ^C and ^Z reach the app. A
        # background group calling tcsetpgrp gets SIGTTOU unless it blocks it.
        os.setpgid(0, 0)
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTTOU])
        try:
            os.tcsetpgrp(0, os.getpgrp())
        except OSError as e:
            sys.stderr.write(f"pidone: cannot give the terminal to the app ({errno.errorcode.get(e.errno, e.errno)}); it runs without job control\n")
    else:
        os.setsid()
    signal.set_wakeup_fd(-1)
    for s, h in dispositions.items():
        try:
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        except (OSError, ValueError, TypeError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    # The generation's --listen sockets go to 3, 4, ... (through copies above that range, so a
    # target never overwrites a source still needed); every other descriptor of the zygote closes,
    # the control socket and the sync pipe included.
    # The generation's own stdout and stderr when pidone captures them: its pipes, opened anew
    # through pidone's /proc/PID/fd entries (another open of the same pipe).
    for target, path in zip((1, 2), req.get("stdio") or ()):
        if path:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            os.dup2(fd, target, inheritable=True)
            os.close(fd)
    fds = [4 + i for i in req["fds"]]
    tmp = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3 + len(fds)) for fd in fds]
    for i, fd in enumerate(tmp):
        os.dup2(fd, 3 + i, inheritable=True)
    os.closerange(3 + len(fds), max(os.sysconf("SC_OPEN_MAX"), 1024))
    env = req["env"]
    os.environ.clear()
    os.environ.update(env)
    if "LISTEN_FDS" in env:
        os.environ["LISTEN_PID"] = str(os.getpid())
    os.chdir(CONFIG["cwd"])
    if "random" in sys.modules:
        sys.modules["random"].seed()
    importlib.invalidate_caches()


def fresh_main():
    m = types.ModuleType("__main__")
    m.__builtins__ = builtins
    sys.modules["__main__"] = m
    return m


def set_path0(entry):
    if SAFE_PATH:
        return
    if sys.path and sys.path[0] == "":
        sys.path[0] = entry
    elif "" in sys.path:
        sys.path[sys.path.index("")] = entry
    else:
        sys.path.insert(0, entry)


def run_app():
    """Run the app as `python3 [options] (-m MOD | -c CODE | SCRIPT) args` would. Whatever it
    raises (SystemExit, KeyboardInterrupt, an error) goes up to the interpreter's top level, which
    then ends the process with the same code, message and signal as a cold run."""
    run = CONFIG["run"]
    args = CONFIG["args"]
    sys.orig_argv = CONFIG["origArgv"]
    if run["kind"] == "code":
        sys.argv = ["-c", *args]
        set_path0("")
        m = fresh_main()
        m.__spec__ = None
        exec(compile(run["code"], "<string>", "exec"), m.__dict__)
    elif run["kind"] == "module":
        import runpy
        sys.argv = ["-m", *args]
        set_path0(os.getcwd())
        fresh_main()
        # What the interpreter itself calls for -m: runs in the real __main__ and sets argv[0].
        runpy._run_module_as_main(run["name"], alter_argv=True)
    else:
        path = run["path"]
        sys.argv = [path, *args]
        if os.path.isdir(path) or not path.endswith(".py") and is_zip(path):
            import runpy
            set_path0(path)
            runpy.run_path(path, run_name="__main__")
        else:
            set_path0(os.path.dirname(os.path.realpath(path)))
            m = fresh_main()
            m.__file__ = os.path.abspath(path)  # as CPython 3.9+ sets it; argv[0] stays as given
            m.__cached__ = None
            m.__spec__ = None
            with open(path, "rb") as f:
                source = f.read()
            exec(compile(source, path, "exec"), m.__dict__)
    sys.exit(0)


def is_zip(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


main()
