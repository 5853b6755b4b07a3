"""One cold start, timed from inside: the interpreter bench/coldstart.py starts for each run.

    python -I -S -B bench/coldstart_child.py DIR...

As tests/support/lambda_bootstrap.py, but for a single invocation and timed: the DIRs go first on
sys.path (the unzipped package, then what Lambda's runtime adds: /var/task before /var/runtime), so with
``-I -S`` nothing but them and the standard library is importable. One line on stdin, ``{"handler":
"app.consume_events", "event": {...}}``, or ``{"module": "app"}`` to import only. One line on stdout:
``{"import_s": ...}`` (the handler's module imported), plus ``"call_s"`` (its first invocation) and
``"result"`` or ``"error"``; each time also as the process's CPU time (``import_cpu_s``, ``call_cpu_s``:
all threads), which a busy machine disturbs less; and the top-level packages each loaded (``imported``,
``call_imported``; the standard library's left out). What the handler prints goes to stderr, as its logs
would go to CloudWatch. Standard library only: the measured import must be the first import of anything
the package holds.
"""

import json
import sys
import time
import traceback
import uuid

answers, sys.stdout = sys.stdout, sys.stderr
sys.path[:0] = sys.argv[1:]


class LambdaContext:
    def __init__(self, function_name: str, timeout_s: float = 60.0) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "coldstart"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _packages() -> set[str]:
    """The top-level packages loaded, less the standard library's."""
    return {name.partition(".")[0] for name in sys.modules} - set(sys.stdlib_module_names)


def main() -> None:
    invocation = json.loads(sys.stdin.readline())
    handler_name = invocation.get("handler")
    module_name, _, attribute = handler_name.rpartition(".") if handler_name else (invocation["module"], "", "")
    before = _packages()
    started, started_cpu = time.perf_counter(), time.process_time()
    __import__(module_name)  # the import statement's way in (importlib.import_module's is not in -X importtime)
    imported, imported_cpu = time.perf_counter(), time.process_time()
    module = sys.modules[module_name]
    answer: dict[str, object] = {"import_s": imported - started, "import_cpu_s": imported_cpu - started_cpu}
    answer["imported"] = sorted(_packages() - before)
    before = _packages()
    if handler_name:
        context = LambdaContext(handler_name)
        try:
            answer["result"] = getattr(module, attribute)(invocation["event"], context)
        except Exception as error:  # what Lambda reports for an unhandled exception
            traceback.print_exc()
            answer["error"] = f"{type(error).__name__}: {error}"
        answer["call_s"], answer["call_cpu_s"] = time.perf_counter() - imported, time.process_time() - imported_cpu
        answer["call_imported"] = sorted(_packages() - before)
    print(json.dumps(answer), file=answers, flush=True)


main()
