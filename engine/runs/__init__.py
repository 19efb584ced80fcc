"""The run folder as the contract: writing and reading it, model files, trained models, exports
and error reports."""
