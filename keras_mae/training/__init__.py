"""The trainer core: players and the one module of backend plumbing."""

from keras_mae.training.adversarial_model import AdversarialModel
from keras_mae.training.backend import input_gradients
from keras_mae.training.callbacks import SetDatasetEpoch, TerminateOnNaNLosses
from keras_mae.training.player import Player
from keras_mae.training.replica_seeds import ReplicaSeeds, step_seeds
from keras_mae.training.reseeding import ReseedDeadComponents, reseed_component
from keras_mae.training.restarts import (
    RestartResult,
    best_of_restarts,
    best_restart_seed,
)
from keras_mae.training.self_labeling import SelfLabeling, self_labels
from keras_mae.training.warm_start import AssignmentWarmStart, fit_assignment

__all__ = [
    "AdversarialModel",
    "AssignmentWarmStart",
    "Player",
    "ReplicaSeeds",
    "ReseedDeadComponents",
    "RestartResult",
    "SelfLabeling",
    "SetDatasetEpoch",
    "TerminateOnNaNLosses",
    "best_of_restarts",
    "best_restart_seed",
    "fit_assignment",
    "input_gradients",
    "reseed_component",
    "self_labels",
    "step_seeds",
]
