"""Lambda's Python runtime, as far as a handler can tell: run with ``python -I -S`` (standard library only).

    python -I -S lambda_bootstrap.py TASK_DIR RUNTIME_DIR

TASK_DIR is the unzipped deployment package (Lambda's /var/task) and
RUNTIME_DIR what the runtime adds (its boto3, in /var/runtime); nothing else
is importable. Each line on stdin is an invocation, ``{"handler":
"app.consume_events", "event": {...}}``; each answer is a line on stdout,
``{"result": ...}`` or Lambda's ``{"errorType", "errorMessage"}``. Modules stay
imported between invocations, as in a warm execution environment. What
handlers print goes to stderr, as their logs would go to CloudWatch.
"""

import importlib
import json
import sys
import time
import traceback
import uuid

task_dir, runtime_dir = sys.argv[1], sys.argv[2]
sys.path[:0] = [task_dir, runtime_dir]  # the order Lambda uses: /var/task before /var/runtime
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


for line in sys.stdin:
    invocation = json.loads(line)
    module_name, _, attribute = invocation["handler"].rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
        answer = {"result": handler(invocation["event"], LambdaContext(invocation["handler"]))}
    except Exception as error:  # what Lambda reports for an unhandled exception
        traceback.print_exc()
        answer = {"errorType": type(error).__name__, "errorMessage": str(error)}
    print(json.dumps(answer), file=answers, flush=True)
