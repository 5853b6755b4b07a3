"""CDK entry point: ``make synth`` / ``make deploy`` run this (DEPLOY_ENV picks infra/config/<env>.json).

Synthesis needs no AWS credentials and makes no lookups: the stack is bound to
the configured region only, so availability zones stay CloudFormation
functions until deploy time.
"""

import os
import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: chalicelib, infra

from infra.config import StackConfig
from infra.nag import suppress_justified
from infra.stack import FootballStack


def build(env: str, outdir: str | None = None) -> tuple[cdk.App, FootballStack]:
    config = StackConfig.load(env)
    app = cdk.App(outdir=outdir)
    saved = dict(os.environ)
    # chalice package derives service principals from the region, and loads the app with the stage's
    # environment variables applied to os.environ: keep both out of the caller's process.
    os.environ["AWS_DEFAULT_REGION"] = config.region
    try:
        stack = FootballStack(
            app,
            f"football-{config.stage}",
            config=config,
            env=cdk.Environment(region=config.region),
            description="Football match data processor: API, MSK, consumer, DynamoDB",
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    suppress_justified(stack)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app, stack


if __name__ == "__main__":
    build(os.environ.get("DEPLOY_ENV", "dev"), os.environ.get("CDK_OUTDIR", "cdk.out"))[0].synth()
