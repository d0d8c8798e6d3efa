"""The `dactyl` verbs that live in the core package."""
