"""A flow run for the crash-detection test: it starts, sends its first heartbeat, says
it is running, and waits to be killed."""

from __future__ import annotations

import sys
import time

from prefect import flow


@flow(name="dying-probe")
def dying(marker: str) -> None:
    with open(marker, "w") as out:
        out.write("running")
    time.sleep(120)


if __name__ == "__main__":
    dying(sys.argv[1])
