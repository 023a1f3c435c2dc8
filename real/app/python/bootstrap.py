# The Python half of the zygote's WSGI loader: finds and builds the app, once per release, in the
# zygote. Compiled into zygote-python.so and run as the module "_zygote"; the request path is C++.
import ast
import gc
import importlib
import io
import os
import stat
import sys
import traceback

import _thread


class LoadError(Exception):
    """A release that cannot be served, with a sentence an operator can act on."""


def _literal(node, spec):
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise LoadError(f"{spec}: factory arguments must be literals "
                        f"(strings, numbers, tuples, lists, dicts)") from None


def _resolve(module, spec, expr):
    """`name`, `a.b`, or a call of one with literal arguments: `create_app("prod", debug=False)`."""
    try:
        tree = ast.parse(expr.strip(), mode="eval").body
    except SyntaxError:
        raise LoadError(f"{spec}: {expr!r} is neither a name nor a call of one") from None
    call = None
    if isinstance(tree, ast.Call):
        call, tree = tree, tree.func
    path = []
    while isinstance(tree, ast.Attribute):
        path.append(tree.attr)
        tree = tree.value
    if not isinstance(tree, ast.Name):
        raise LoadError(f"{spec}: {expr!r} is neither a name nor a call of one")
    path.append(tree.id)
    target = module
    for name in reversed(path):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise LoadError(f"{spec}: module {module.__name__} has no attribute "
                            f"{'.'.join(reversed(path))}") from None
    if call is None:
        return target
    args = [_literal(a, spec) for a in call.args]
    kwargs = {k.arg: _literal(k.value, spec) for k in call.keywords if k.arg is not None}
    return target(*args, **kwargs)


def load(release, spec, args):
    """Imports the app of `spec` from `release` and returns the WSGI callable.

    `module:callable` and `module:factory(args)` are gunicorn's forms; a bare `module` is the
    seeds' form: module.get_application(*args)."""
    sys.path.insert(0, release)
    modname, colon, expr = spec.partition(":")
    if colon and args:
        raise LoadError(f"{spec}: extra arguments ({' '.join(args)}) go with the form 'module ARGS' "
                        f"(module.get_application(*ARGS)); pass a factory's arguments in the spec")
    module = importlib.import_module(modname)
    if colon:
        app = _resolve(module, spec, expr)
    else:
        factory = getattr(module, "get_application", None)
        if factory is None:
            raise LoadError(f"module {modname} has no get_application(): the form 'module ARGS' "
                            f"calls it; give 'module:name' to serve a WSGI callable")
        app = factory(*args)
    if not callable(app):
        raise LoadError(f"{spec} gave {type(app).__name__} {app!r:.60}, which is not callable")
    threads = _thread._count()
    if threads:
        raise LoadError(f"loading {spec} left {threads} thread(s) running; workers are forked "
                        f"from this process and would inherit their locks held: start threads "
                        f"per worker (os.register_at_fork(after_in_child=...))")
    # Workers share the heap copy-on-write: a collection in a worker must not write to every
    # object the zygote made, so they leave the collector's generations for good.
    gc.collect()
    gc.freeze()
    return app


def describe_failure(exc, spec, release):
    """The one line for `ctl status`; the traceback goes to the log."""
    if not isinstance(exc, LoadError):
        sys.stderr.write(f"zygote: loading {spec} from {release} failed:\n")
        traceback.print_exception(exc)
    line = "".join(traceback.format_exception_only(exc)).strip().splitlines()[-1]
    if isinstance(exc, LoadError):
        line = str(exc)
    return line


class FileWrapper:
    """wsgi.file_wrapper: the server reads the file in blocks (PEP 3333)."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def file_span(self):
        """(descriptor, position, size) when the file-like is a binary regular file the server can
        send with sendfile, from its current position to its end (PEP 3333's "platform-specific
        file transmission"); None when it must be iterated."""
        f = self.filelike
        if isinstance(f, io.TextIOBase):
            return None
        try:
            fd = f.fileno()
            position = f.tell()
            st = os.fstat(fd)
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
            return None
        if not stat.S_ISREG(st.st_mode) or not isinstance(fd, int) or not isinstance(position, int):
            return None
        return fd, position, st.st_size


def spooled_input(fd):
    """wsgi.input over a request body too large for memory, which the front wrote to a file: a
    buffered reader from the body's start, over a descriptor of its own (closed with it, so one
    an app keeps past its request never reads another request's file)."""
    own = os.dup(fd)
    try:
        os.lseek(own, 0, os.SEEK_SET)
        return open(own, "rb", buffering=64 * 1024)
    except BaseException:
        os.close(own)
        raise


def run_exit_hooks():
    """A worker's exit: atexit hooks and a flush, never Py_Finalize (it would write to every page
    the worker shares with its zygote)."""
    import atexit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def report_request_error(exc, pid, request_line):
    """A request the app failed: which worker and request, then the traceback, to the log."""
    sys.stderr.write(f"zygote: worker {pid}: {request_line}: the app failed:\n")
    traceback.print_exception(exc)
