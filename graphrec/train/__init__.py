"""Training: the Trainer, checkpoints, and experiment runs."""
from graphrec.train.checkpoint import load_checkpoint, save_checkpoint
from graphrec.train.trainer import TrainConfig, Trainer, TrainState, seed_everything

__all__ = ["Trainer", "TrainConfig", "TrainState", "seed_everything", "save_checkpoint",
           "load_checkpoint"]
