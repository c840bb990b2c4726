"""What reaches the terminal during a run: verity's own lines and progress bar. Third-party
warnings (FutureWarnings, transformers' notices) and loading bars go to the run's ``train.log``
instead, with everything else that was logged."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

OWN = ("verity", "trainer", "rewards", "sandbox", "serving", "contract")  # loggers shown on the terminal


class _OwnOrSevere(logging.Filter):
    """verity's own warnings, and anyone's errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or (record.levelno >= logging.WARNING and record.name.split(".")[0] in OWN)


def quiet_third_parties(log_file: Path | None) -> None:
    """Route every log record and Python warning to ``log_file`` (when given) and only verity's own
    warnings and errors to the terminal; turn off transformers' and huggingface_hub's progress bars."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "verity", False)]:  # an earlier run's in this process
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.INFO)
    terminal = logging.StreamHandler()
    terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    terminal.addFilter(_OwnOrSevere())
    handlers = [terminal]
    if log_file is not None:
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(to_file)
    for handler in handlers:
        handler.verity = True
        root.addHandler(handler)
    logging.captureWarnings(False)  # installed afresh: something may have reset warnings.showwarning since
    logging.captureWarnings(True)
    warnings.simplefilter("default")  # each distinct warning once per place, into the log
    try:
        from huggingface_hub.utils import disable_progress_bars
        from transformers.utils import logging as hf_logging
    except ImportError:  # neither is loaded by every command
        return
    hf_logging.disable_progress_bar()
    hf_logging.disable_default_handler()
    hf_logging.enable_propagation()
    disable_progress_bars()
