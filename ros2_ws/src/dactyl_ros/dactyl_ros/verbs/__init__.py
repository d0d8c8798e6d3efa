"""The `dactyl` verbs that run ROS graphs: `up` (the local launcher) and `bench-graph`."""
