"""Lambda's Python runtime, as far as a handler can tell: run with ``python -I -S -B`` (standard library only).

    python -I -S -B lambda_bootstrap.py TASK_DIR RUNTIME_DIR

TASK_DIR is the unzipped deployment package (Lambda's /var/task) and RUNTIME_DIR what the runtime adds
(its SDK, in /var/runtime); nothing else is importable. ``-B`` because /var/task is read-only: only the
bytecode the package ships is used. Each line on stdin is an invocation, ``{"handler":
"app.consume_events", "event": {...}}``, or ``{"module": "app"}`` to import only; each answer is a line
on stdout, ``{"result": ...}`` or Lambda's ``{"errorType", "errorMessage"}``. Modules stay imported
between invocations, as in a warm execution environment. What handlers print goes to stderr, as their logs
would go to CloudWatch.

Each answer is also timed from inside, for bench/coldstart.py: ``import_s`` (the handler's module, on the
invocation that imports it) and ``call_s``, each also as process CPU time (``import_cpu_s``,
``call_cpu_s``: all threads, which a busy machine disturbs less), and the top-level packages each loaded
(``imported``, ``call_imported``; the standard library's left out). Standard library only: the measured
import must be the first import of anything the package holds.
"""

import json
import sys
import time
import traceback
import uuid

sys.path[:0] = sys.argv[1:]  # the order Lambda uses: /var/task before /var/runtime
answers, sys.stdout = sys.stdout, sys.stderr


class LambdaContext:
    def __init__(self, function_name: str, timeout_s: float = 60.0) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _packages() -> set[str]:
    """The top-level packages loaded, less the standard library's."""
    return {name.partition(".")[0] for name in sys.modules} - set(sys.stdlib_module_names)


def invoke(invocation: dict[str, object]) -> dict[str, object]:
    handler_name = str(invocation.get("handler", ""))
    module_name, _, attribute = handler_name.rpartition(".") if handler_name else (str(invocation["module"]), "", "")
    answer: dict[str, object] = {}
    before, started, started_cpu = _packages(), time.perf_counter(), time.process_time()
    try:
        if module_name not in sys.modules:
            __import__(module_name)  # the import statement's way in (importlib.import_module's is not in -X importtime)
            answer |= {"import_s": time.perf_counter() - started, "import_cpu_s": time.process_time() - started_cpu}
            answer["imported"] = sorted(_packages() - before)
        handler = getattr(sys.modules[module_name], attribute) if handler_name else None
    except Exception as error:  # Lambda's Runtime.ImportModuleError / HandlerNotFound
        traceback.print_exc()
        return {"errorType": type(error).__name__, "errorMessage": str(error)}
    if handler is None:
        return answer
    before, started, started_cpu = _packages(), time.perf_counter(), time.process_time()
    try:
        answer["result"] = handler(invocation["event"], LambdaContext(handler_name))
    except Exception as error:  # what Lambda reports for an unhandled exception
        traceback.print_exc()
        answer |= {"errorType": type(error).__name__, "errorMessage": str(error)}
    answer |= {"call_s": time.perf_counter() - started, "call_cpu_s": time.process_time() - started_cpu}
    answer["call_imported"] = sorted(_packages() - before)
    return answer


for line in sys.stdin:
    print(json.dumps(invoke(json.loads(line))), file=answers, flush=True)
