"""``python -m deployment ARGS`` (what deploy.sh runs): parse, check, then deploy or tear down.

Exit status: 0 done, 1 a gcloud command failed, 2 bad usage or input, 3 no gcloud here.
Nothing is sent to Google for 2 and 3.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from deployment.gcloud import Gcloud, GcloudFailed, NoGcloud
from deployment.options import UsageError, parse, parser
from deployment.steps import deploy, teardown


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    if {"-h", "--help"} & set(argv):
        parser().print_help()
        return 0
    try:
        inputs = parse(argv, environ)
        gcloud = Gcloud(dry_run=inputs.dry_run, assume_present=inputs.teardown)
        (teardown if inputs.teardown else deploy)(inputs, gcloud)
    except UsageError as error:
        print(f"deploy.sh: {error}\nRun './deploy.sh --help' for the options.", file=sys.stderr)
        return 2
    except NoGcloud as error:
        print(f"deploy.sh: {error}", file=sys.stderr)
        return 3
    except GcloudFailed as error:
        print(f"deploy.sh: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
