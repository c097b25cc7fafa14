"""Training logs: a CSV file always, TensorBoard event files when tensorboardX is installed."""

import csv
import math
import os


class Logger:
    """Writes one row of scalar metrics per update to ``directory/progress.csv`` (columns fixed by
    the first row) and, if tensorboardX is importable and ``tensorboard`` is true, the same scalars
    to TensorBoard event files in ``directory``, keyed by environment steps."""

    def __init__(self, directory, tensorboard=True):
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "progress.csv")
        self._file = open(self.path, "a", newline="")
        self._writer = None
        self._tensorboard = None
        if tensorboard:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                pass
            else:
                self._tensorboard = SummaryWriter(directory)

    def write(self, metrics, step):
        """Log a dict of scalars at environment step ``step``."""
        row = {name: float(value) for name, value in metrics.items()}
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=list(row))
            if self._file.tell() == 0:
                self._writer.writeheader()
        self._writer.writerow(row)
        self._file.flush()
        if self._tensorboard is not None:
            for name, value in row.items():
                if math.isfinite(value):
                    self._tensorboard.add_scalar(name, value, step)

    def close(self):
        """Flush and close the files."""
        self._file.close()
        if self._tensorboard is not None:
            self._tensorboard.close()
