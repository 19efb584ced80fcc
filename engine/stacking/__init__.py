"""Stacking: K models (folds or sweep variants) trained at once as one model with a leading member axis."""
