"""The `dactyl` verbs of the training package."""
