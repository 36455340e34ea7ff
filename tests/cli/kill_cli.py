"""Runs `keras-mae ARGS...` and kills the process (SIGKILL) after epoch K.

A test helper: `python -m tests.cli.kill_cli K ARGS...` patches
`keras.callbacks.BackupAndRestore` so that the process dies hard right after
the backup of epoch `K` (1-based) is written, as a crash or `kill -9` would.
"""

import os
import signal
import sys

import keras

from keras_mae.cli.main import main


def _kill_after(epochs: int) -> None:
    save = keras.callbacks.BackupAndRestore.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        save(self, epoch, logs)
        if epoch + 1 == epochs:
            os.kill(os.getpid(), signal.SIGKILL)

    keras.callbacks.BackupAndRestore.on_epoch_end = on_epoch_end


if __name__ == "__main__":
    _kill_after(int(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
