"""The model: layer specs with their shape rules, activations, losses, metrics, building and
resource estimates."""
