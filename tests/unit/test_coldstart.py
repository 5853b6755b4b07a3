"""bench.coldstart's parts that need no stack: reading -X importtime, and what a fresh ``import app`` loads."""

from bench.coldstart import Code, _app_imports, _invoke

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 | json
import time:       300 |        300 |     attr._make
import time:       100 |        400 |   attrs
import time:        50 |         50 |   chalicelib.layout
import time:       200 |        650 | app
import time:        10 |         10 | atexit
"""


def test_the_profile_is_import_app_and_what_it_imported():
    assert _app_imports(IMPORTTIME) == [
        ("attr._make", 2, 0.3, 0.3),
        ("attrs", 1, 0.1, 0.4),
        ("chalicelib.layout", 1, 0.05, 0.05),
        ("app", 0, 0.2, 0.65),
    ]


def test_import_app_leaves_kafka_and_the_sdk_to_the_paths_that_use_them(tmp_path):
    answer = _invoke(Code(tmp_path, tree=True), {"PATH": "/usr/bin:/bin"}, {"module": "app"})
    assert "chalicelib" in answer["imported"]
    assert not {"kafka", "boto3", "s3transfer", "urllib3", "aws_msk_iam_sasl_signer"} & set(answer["imported"])
