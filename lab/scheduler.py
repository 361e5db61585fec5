"""The lab's EventBridge stand-in for the jobs that run all the time (the steering snapshot).

`python -m lab.scheduler <job> ...` runs each named job again as soon as its last run ends, as
EventBridge's `rate(1 minute)` does with a job that runs for most of the minute. A run that
fails is logged and tried again after a pause. Stopped with the rest of the lab (SIGTERM).
"""

from __future__ import annotations

import logging
import sys
import time

from control_plane.common.settings import ServiceSettings
from lab.control_plane import run_job

logger = logging.getLogger(__name__)

FAILED_RUN_PAUSE_S = 2.0


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("usage: python -m lab.scheduler <job name> ...\n")
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = ServiceSettings()
    while True:
        for name in argv:
            try:
                run_job(name, settings)
            except Exception:
                logger.exception("job %s failed; running it again in %ss", name, FAILED_RUN_PAUSE_S)
                time.sleep(FAILED_RUN_PAUSE_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
