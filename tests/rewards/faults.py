"""Fault injection for the math verifier's workers (module-level so worker processes can import it)."""

import signal
import time

from rewards.math.check import check_batch


def hang_in_c_on_marker(items, deadline_s):
    """Like check_batch, but a response containing HANG-IN-C stalls with SIGALRM blocked, the way a
    C extension holding the GIL would: only killing the process ends it."""
    if any("HANG-IN-C" in response for response, *_ in items):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
    return check_batch(items, deadline_s)
