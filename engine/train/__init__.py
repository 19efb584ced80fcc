"""Training: the epoch loop, optimizers, the experiment that runs every split, checkpoints and resume."""
