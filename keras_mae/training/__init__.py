"""The trainer core: players and the one module of backend plumbing."""

from keras_mae.training.adversarial_model import AdversarialModel
from keras_mae.training.backend import input_gradients
from keras_mae.training.callbacks import TerminateOnNaNLosses
from keras_mae.training.player import Player

__all__ = ["AdversarialModel", "Player", "TerminateOnNaNLosses", "input_gradients"]
