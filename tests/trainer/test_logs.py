"""The terminal shows verity's own warnings; third parties' warnings go to the run's log file."""

from __future__ import annotations

import logging
import warnings

from trainer.logs import quiet_third_parties


def test_third_party_warnings_go_to_the_log_file_only(tmp_path, capfd):
    log = tmp_path / "train.log"
    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        quiet_third_parties(log)
        warnings.warn("`foo` is deprecated", FutureWarning, stacklevel=1)
        logging.getLogger("transformers.modeling_utils").warning("some weights were not initialized")
        logging.getLogger("verity.data").warning("skipped a bad row: data.jsonl:3")
        logging.getLogger("urllib3").error("connection refused")
        for handler in root.handlers:
            handler.flush()
        terminal = capfd.readouterr().err
        written = log.read_text()
    finally:
        for handler in [h for h in root.handlers if h not in before[0]]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(before[1])
        logging.captureWarnings(False)
    assert "skipped a bad row" in terminal and "connection refused" in terminal
    assert "deprecated" not in terminal and "not initialized" not in terminal
    for line in ("`foo` is deprecated", "some weights were not initialized", "skipped a bad row", "connection refused"):
        assert line in written
