"""The `dactyl` verbs of the control package."""
